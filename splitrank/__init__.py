"""splitrank: edge-and-cloud split inference for recommendation ranking.

The top layer: the client SDK apps use (``Client``, ``AsyncClient``), the ``splitrank`` command line,
the demo and the reports. The programs it drives live beside it (``edge/``, ``cloud/``, ``devices/``),
on the ground layer (``core/``) and the contracts (``protos/``).

    from splitrank import Client
    with Client("127.0.0.1:50061") as client:
        ranking = client.rank([("85123A", 3.0, 2)], k=10)
"""

from splitrank.client import (
    AgentUnavailableError,
    AsyncClient,
    Client,
    DeadlineExceededError,
    InvalidRequestError,
    Ranking,
    SplitrankError,
)

__version__ = "0.1.0"

__all__ = [
    "AgentUnavailableError",
    "AsyncClient",
    "Client",
    "DeadlineExceededError",
    "InvalidRequestError",
    "Ranking",
    "SplitrankError",
    "__version__",
]
