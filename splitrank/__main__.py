"""``python -m splitrank`` is the ``splitrank`` command."""

from splitrank.cli import main

main()
