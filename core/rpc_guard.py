"""Malformed request bytes become INVALID_ARGUMENT, on every method of a grpc.aio server.

Left alone, grpc answers bytes that do not parse as the method's request message with UNKNOWN
("Unexpected DecodeError") and logs a traceback for each, before any of our code runs. This server
interceptor wraps every method's request deserializer: bytes that do not parse become a
``MalformedRequest`` marker, and the method's behaviour ends such a call with INVALID_ARGUMENT and
the parser's reason, tells ``on_malformed`` (the server's request metrics), and logs one line per
method at most every ``log_every_s`` with the count since the last line. Streaming requests are
checked message by message. Cost per call: one cached dict lookup and one ``isinstance``.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias, cast

import grpc

log = logging.getLogger("splitrank.rpc")
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


class MalformedRequest:
    """What the guarded deserializer returns for bytes that do not parse: the parser's reason."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _deserializer(parse: Callable[[bytes], Any] | None, max_bytes: int | None) -> Callable[[bytes], Any]:
    def deserialize(data: bytes) -> Any:
        if max_bytes is not None and len(data) > max_bytes:
            return MalformedRequest(f"request is {len(data)} bytes, the limit is {max_bytes}")
        if parse is None:
            return data
        try:
            return parse(data)
        except Exception as err:  # noqa: BLE001 - whatever the parser raises, the bytes are the client's fault
            return MalformedRequest(str(err) or type(err).__name__)

    return deserialize


class MalformedRequestGuard(grpc.aio.ServerInterceptor):
    """``grpc.aio.server(interceptors=[MalformedRequestGuard(on_malformed)])``; ``on_malformed(method)``
    gets the full method path (``/package.Service/Method``) of every refused call. Requests over
    ``max_request_bytes`` are refused the same way, before they are parsed (keep gRPC's own receive
    limit above it: past that limit gRPC answers RESOURCE_EXHAUSTED before any Python runs)."""

    def __init__(self, on_malformed: Callable[[str], None] = lambda method: None, *, max_request_bytes: int | None = None,
                 log_every_s: float = 10.0) -> None:
        self.on_malformed = on_malformed
        self.max_request_bytes = max_request_bytes
        self.log_every_s = log_every_s
        self._handlers: dict[str, Handler] = {}
        self._unlogged: dict[str, int] = {}
        self._logged_at: dict[str, float] = {}

    async def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
                                handler_call_details: grpc.HandlerCallDetails) -> Handler | None:
        method = handler_call_details.method
        guarded = self._handlers.get(method)
        if guarded is None:
            handler = await continuation(handler_call_details)
            if handler is None:
                return None  # grpc answers UNIMPLEMENTED; unknown names are not cached (a client could send any number of them)
            guarded = self._handlers[method] = self._guard(method, handler)
        return guarded

    async def _refuse(self, method: str, request: MalformedRequest, context: Context) -> None:
        self.on_malformed(method)
        self._unlogged[method] = self._unlogged.get(method, 0) + 1
        now = time.monotonic()
        if now - self._logged_at.get(method, -self.log_every_s) >= self.log_every_s:
            log.warning("%d malformed request(s) to %s answered INVALID_ARGUMENT; latest: %s", self._unlogged[method], method, request.reason)
            self._logged_at[method], self._unlogged[method] = now, 0
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"malformed request: {request.reason}")

    def _checked(self, method: str, requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
        async def checked() -> AsyncIterator[Any]:
            async for request in requests:
                if isinstance(request, MalformedRequest):
                    await self._refuse(method, request, context)
                yield request

        return checked()

    def _guard(self, method: str, handler: Handler) -> Handler:
        streaming = handler.request_streaming
        kind = ("stream" if streaming else "unary") + "_" + ("stream" if handler.response_streaming else "unary")
        behavior = cast("Callable[..., Any] | None", getattr(handler, kind))
        assert behavior is not None, f"{method}: handler without a behaviour"

        def first(request: Any, context: Context) -> tuple[Any, bool]:
            """The request (a checked iterator when requests stream) and whether it may reach the behaviour."""
            if streaming:
                return self._checked(method, request, context), True
            return request, not isinstance(request, MalformedRequest)

        if inspect.isasyncgenfunction(behavior):
            async def guarded_stream(request: Any, context: Context) -> AsyncIterator[Any]:
                request, ok = first(request, context)
                if not ok:
                    await self._refuse(method, request, context)
                async for response in behavior(request, context):
                    yield response

            guarded: Callable[..., Any] = guarded_stream
        else:
            async def guarded_call(request: Any, context: Context) -> Any:
                request, ok = first(request, context)
                if not ok:
                    await self._refuse(method, request, context)
                result = behavior(request, context)
                return await result if inspect.isawaitable(result) else result

            guarded = guarded_call
        replaced: Handler = handler._replace(request_deserializer=_deserializer(handler.request_deserializer, self.max_request_bytes),  # type: ignore[attr-defined]
                                             **{kind: guarded})
        return replaced
