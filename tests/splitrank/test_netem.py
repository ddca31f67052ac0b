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


def test_a_server_that_goes_away_takes_the_client_connection_with_it() -> None:
    async def scenario() -> None:
        accepted: list[asyncio.StreamWriter] = []

        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(writer)

        server = await asyncio.start_server(hold, "127.0.0.1", 0)
        proxy = NetemProxy("127.0.0.1", server.sockets[0].getsockname()[1], NetworkProfile("test", 1.0), seed=1)
        await proxy.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)  # the client keeps its side open
        while not accepted:
            await asyncio.sleep(0.01)
        accepted[0].transport.abort()  # the server dies
        assert await asyncio.wait_for(reader.read(100), 2) == b""
        deadline = time.monotonic() + 2
        while proxy._connections and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert not proxy._connections, "the proxy still holds the client's connection to a dead server"
        writer.close()
        await proxy.stop()
        server.close()

    asyncio.run(scenario())
