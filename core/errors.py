"""The one error every program raises for a request it cannot serve as sent.

The edge agent and the cloud server both answer it with gRPC ``INVALID_ARGUMENT`` and its message;
the SDK raises it to apps as ``splitrank.InvalidRequestError`` (a subclass), whether the SDK caught
the problem before sending or the agent answered ``INVALID_ARGUMENT``.
"""

from __future__ import annotations


class InvalidRequest(ValueError):
    """A request cannot be served as sent: an unknown item, a bad ``k``, a malformed embedding, ...
    The message says what is wrong, naming the field."""
