"""The network-emulating proxy delays, keeps order and cuts links, over real sockets."""

from __future__ import annotations

import asyncio
import time

from splitrank.netem import NetemProxy, NetworkProfile


async def _echo_server() -> asyncio.base_events.Server:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(echo, "127.0.0.1", 0)


def test_latency_order_bytes_and_cut() -> None:
    async def scenario() -> None:
        server = await _echo_server()
        port = server.sockets[0].getsockname()[1]
        proxy = NetemProxy("127.0.0.1", port, NetworkProfile("test", 30.0, 0.0, 100.0), seed=1)
        await proxy.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        started = time.monotonic()
        for i in range(5):
            writer.write(f"{i};".encode())
        await writer.drain()
        received = b""
        while len(received) < 10:
            received += await reader.read(100)
        assert received == b"0;1;2;3;4;"  # order kept
        assert time.monotonic() - started >= 0.06  # 30 ms each way
        assert proxy.bytes_up == 10 and proxy.bytes_down == 10
        proxy.down()
        assert await reader.read(100) == b""  # the open connection was cut
        reader2, _ = await asyncio.open_connection("127.0.0.1", proxy.port)
        assert await reader2.read(100) == b""  # new ones are refused while down
        proxy.up()
        reader3, writer3 = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer3.write(b"back")
        await writer3.drain()
        assert await reader3.read(100) == b"back"
        writer3.close()
        await proxy.stop()
        server.close()

    asyncio.run(scenario())
