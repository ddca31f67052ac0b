"""A bare grpc.aio echo server in its own process: one generic unary method that returns the request
bytes, nothing else on its event loop. The floor any gRPC agent pays on this machine (``splitrank bench
edge`` compares the agent's local route against it). Prints ``READY <port>`` when listening."""

from __future__ import annotations

import asyncio

import grpc

ECHO_METHOD = "/splitrank.bench.Echo/Echo"


async def main() -> None:
    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("splitrank.bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"READY {port}", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main())
