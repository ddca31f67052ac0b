"""splitrank: edge-and-cloud split inference for recommendation ranking.

The top layer: the client SDK apps use (``Client``, ``AsyncClient``; ``EdgeRanker`` ranks inside the app's own process), the ``splitrank`` command line,
the demo and the reports. The programs it drives live beside it (``edge/``, ``cloud/``, ``devices/``),
on the ground layer (``core/``) and the contracts (``protos/``).

    from splitrank import Client
    with Client("127.0.0.1:50061") as client:
        ranking = client.rank([("85123A", 3.0, 2)], k=10)

The exceptions and the status codes they stand for are listed in ``splitrank.errors``.
"""

from typing import TYPE_CHECKING, Any

from splitrank.client import AsyncClient, Client, HistoryLike, Ranking, Route, Timings
from splitrank.errors import (
    AgentUnavailableError,
    DeadlineExceededError,
    InvalidRequestError,
    SplitrankError,
    UnexpectedResponseError,
)

if TYPE_CHECKING:
    from splitrank.inprocess import EdgeRanker

__version__ = "0.1.0"

__all__ = [
    "AgentUnavailableError",
    "AsyncClient",
    "Client",
    "DeadlineExceededError",
    "EdgeRanker",
    "HistoryLike",
    "InvalidRequestError",
    "Ranking",
    "Route",
    "SplitrankError",
    "Timings",
    "UnexpectedResponseError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """``EdgeRanker`` loads the edge runtime (numpy, the TFLite interpreter) only when an app asks for it."""
    if name == "EdgeRanker":
        from splitrank.inprocess import EdgeRanker

        return EdgeRanker
    raise AttributeError(f"module 'splitrank' has no attribute {name!r}")
