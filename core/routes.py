"""Route names as users write them (SDK, config, reports) and as the wire carries them (``splitrank.v1.Route``)."""

from __future__ import annotations

from protos.v1 import common_pb2

ROUTES = {"local": common_pb2.ROUTE_LOCAL, "split": common_pb2.ROUTE_SPLIT, "cloud": common_pb2.ROUTE_CLOUD}
ROUTE_NAMES = {value: name for name, value in ROUTES.items()}
