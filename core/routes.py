"""Route names as users write them (SDK, config, reports) and as the wire carries them (``splitrank.v1.Route``)."""

from __future__ import annotations

from enum import Enum

from protos.v1 import common_pb2

ROUTES = {"local": common_pb2.ROUTE_LOCAL, "split": common_pb2.ROUTE_SPLIT, "cloud": common_pb2.ROUTE_CLOUD}
ROUTE_NAMES = {value: name for name, value in ROUTES.items()}
_BY_WIRE = {int(value): name for name, value in ROUTES.items()}


class Route(str, Enum):
    """Where a ranking was computed: ``local`` (the edge model alone), ``split`` (edge candidates
    reranked in the cloud from the compact user embedding) or ``cloud`` (the raw history ranked by the
    cloud teacher). A ``str``: ``Route.SPLIT == "split"``."""

    LOCAL = "local"
    SPLIT = "split"
    CLOUD = "cloud"

    def __str__(self) -> str:
        return self.value

    @property
    def wire(self) -> common_pb2.Route:
        """The ``splitrank.v1.Route`` value of this route."""
        return ROUTES[self.value]

    @classmethod
    def from_wire(cls, value: int) -> Route:
        """The route a ``splitrank.v1.Route`` value names; raises ValueError for ``ROUTE_UNSPECIFIED`` or a
        value this code does not know (a newer peer), never guessing one."""
        name = _BY_WIRE.get(value)
        if name is None:
            raise ValueError(f"unknown route {value} on the wire (known: {sorted(_BY_WIRE)})")
        return cls(name)
