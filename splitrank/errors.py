"""The SDK's exceptions, in one place. Catch at the level you care about::

    SplitrankError                  every failed call; ``code`` is the gRPC status (None when no call was made)
    ├── InvalidRequestError         the request cannot be served as sent (INVALID_ARGUMENT, or caught
    │                               before sending); also a ``core.errors.InvalidRequest``, the one
    │                               invalid-request error the agent and the cloud raise
    ├── AgentUnavailableError       no agent answers at the target (UNAVAILABLE)
    ├── DeadlineExceededError       no answer within the deadline (DEADLINE_EXCEEDED)
    └── UnexpectedResponseError     the agent answered something this SDK cannot read (e.g. a route it
                                    does not know: a newer agent); nothing is guessed

Any other status (INTERNAL: the edge model failed; RESOURCE_EXHAUSTED; UNIMPLEMENTED; ...) is a plain
``SplitrankError`` carrying that ``code`` and the agent's message. A cloud failure is never one of
these: the agent answers from the edge instead, marked ``degraded``.
"""

from __future__ import annotations

import grpc

from core.errors import InvalidRequest


class SplitrankError(Exception):
    """A ranking call failed. ``code`` is the gRPC status the agent answered with, or None when the
    SDK refused the call before sending it; the message (``str(error)``) says why."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.code = code


class InvalidRequestError(SplitrankError, InvalidRequest):
    """The request cannot be served as sent (unknown item, bad ``k``, ...); the message says what."""


class AgentUnavailableError(SplitrankError):
    """No agent answers at the target address (not started, wrong address, or shutting down)."""


class DeadlineExceededError(SplitrankError):
    """No answer within the call's deadline."""


class UnexpectedResponseError(SplitrankError):
    """The agent's answer does not fit this SDK (e.g. a route value it does not know)."""


_BY_STATUS: dict[grpc.StatusCode, type[SplitrankError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequestError,
    grpc.StatusCode.UNAVAILABLE: AgentUnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
}


def from_rpc_error(err: grpc.RpcError) -> SplitrankError:
    """The SDK exception for a failed gRPC call (sync or asyncio): its status code and message."""
    code, details = (err.code(), err.details()) if isinstance(err, (grpc.Call, grpc.aio.AioRpcError)) else (grpc.StatusCode.UNKNOWN, None)
    message = details or code.name
    return _BY_STATUS.get(code, SplitrankError)(message, code)
