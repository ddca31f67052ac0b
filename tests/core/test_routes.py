"""Route names and their wire values map both ways; an unknown wire value is refused, never guessed."""

from __future__ import annotations

import pytest

from core.routes import Route
from protos.v1 import common_pb2


def test_every_route_round_trips_through_the_wire() -> None:
    assert [Route.from_wire(route.wire) for route in Route] == list(Route)
    assert (Route.SPLIT.wire, str(Route.SPLIT), Route("cloud")) == (common_pb2.ROUTE_SPLIT, "split", Route.CLOUD)


@pytest.mark.parametrize("value", [common_pb2.ROUTE_UNSPECIFIED, 4, -1])
def test_an_unknown_wire_value_is_refused(value: int) -> None:
    with pytest.raises(ValueError, match=f"unknown route {value}"):
        Route.from_wire(value)
