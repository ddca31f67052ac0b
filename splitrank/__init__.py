"""splitrank: edge-and-cloud split inference for recommendation ranking.

The top layer: the client SDK apps use (``Client``, ``AsyncClient``), the ``splitrank`` command line,
the demo and the reports. The programs it drives live beside it (``edge/``, ``cloud/``, ``devices/``),
on the ground layer (``core/``) and the contracts (``protos/``).

    from splitrank import Client
    with Client("127.0.0.1:50061") as client:
        ranking = client.rank([("85123A", 3.0, 2)], k=10)

The exceptions and the status codes they stand for are listed in ``splitrank.errors``.
"""

from splitrank.client import AsyncClient, Client, HistoryLike, Ranking, Route, Timings
from splitrank.errors import (
    AgentUnavailableError,
    DeadlineExceededError,
    InvalidRequestError,
    SplitrankError,
    UnexpectedResponseError,
)

__version__ = "0.1.0"

__all__ = [
    "AgentUnavailableError",
    "AsyncClient",
    "Client",
    "DeadlineExceededError",
    "HistoryLike",
    "InvalidRequestError",
    "Ranking",
    "Route",
    "SplitrankError",
    "Timings",
    "UnexpectedResponseError",
    "__version__",
]
