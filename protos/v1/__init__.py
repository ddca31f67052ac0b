"""Version 1 of the splitrank contracts (proto package ``splitrank.v1``)."""
