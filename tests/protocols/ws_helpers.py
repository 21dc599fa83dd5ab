#!/usr/bin/python3
"""WebSocket server and clients for make_ws_captures.sh (Python `websockets`, Debian
python3-websockets 10.x), on 127.0.0.1 only.

    ws_helpers.py server PORT [deflate|deflate-no-takeover|plain]
    ws_helpers.py client PORT SCENARIO

The server echoes every message (a fragmented one as one message) and, on a text
message `close-please`, closes with 4001 "server done". Keepalive pings are off on both
sides but for the `zombie` client, so every other ping in a capture is one a scenario
sent. Scenarios:

  chat        text, binary, a fragmented text (3 fragments), a ping with a payload and
              its pong, a clean close started by the client (1000 "bye")
  deflate     six similar text messages and a 20 KB binary one (compression as the
              server was started), client close 1001
  server-close  one message, then the server closes (4001 "server done")
  vanish      one message, then the client resets the connection (SO_LINGER 0, no
              Close frame)
  silent      one message, 2.5 s of silence, a ping, 1 s of silence, close 1000
  zombie      keepalive pings every second (websockets' own), three messages, then
              silence but for the pings until the file named by $WS_RELEASE exists
              (make_ws_captures.sh creates it once the capture has ended), then close
              1001: the capture ends with the connection open
"""
import os
import asyncio
import socket
import struct
import sys

import websockets
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)

HOST = "127.0.0.1"


def extensions(kind, server):
    if kind == "plain":
        return []
    takeover = kind != "deflate-no-takeover"
    factory = ServerPerMessageDeflateFactory if server else ClientPerMessageDeflateFactory
    return [factory(server_no_context_takeover=not takeover,
                    client_no_context_takeover=not takeover)]


async def echo(ws, path=None):
    try:
        async for message in ws:
            if message == "close-please":
                await ws.close(4001, "server done")
                return
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass  # the vanishing client


async def serve(port, kind):
    async with websockets.serve(echo, HOST, port, ping_interval=None,
                                compression=None, extensions=extensions(kind, True),
                                subprotocols=["chat.v1"]):
        await asyncio.Future()


async def client(port, scenario, kind):
    uri = f"ws://{HOST}:{port}/{scenario}"
    # The zombie keeps its connection alive with pings only, as an abandoned client does.
    ping_interval = 1.0 if scenario == "zombie" else None
    ws = await websockets.connect(uri, ping_interval=ping_interval, compression=None,
                                  extensions=extensions(kind, False),
                                  subprotocols=["chat.v1"] if scenario == "chat" else None)
    if scenario == "chat":
        await ws.send("hello")
        await ws.recv()
        await ws.send(bytes(range(256)) * 2)
        await ws.recv()
        await ws.send(["frag-one ", "frag-two ", "frag-three"])
        await ws.recv()
        pong = await ws.ping(b"ping-1")
        await pong
        await ws.close(1000, "bye")
        await ws.wait_closed()
    elif scenario == "deflate":
        for i in range(6):
            await ws.send(f"the quick brown fox jumps over the lazy dog, message {i}" * 4)
            await ws.recv()
        await ws.send(b"0123456789abcdef" * 1280)
        await ws.recv()
        await ws.close(1001, "going")
    elif scenario == "server-close":
        await ws.send("one")
        await ws.recv()
        await ws.send("close-please")
        try:
            await ws.recv()
        except websockets.ConnectionClosed:
            pass
    elif scenario == "vanish":
        await ws.send("last words")
        await ws.recv()
        sock = ws.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        ws.transport.abort()
        await asyncio.sleep(0.2)
    elif scenario == "silent":
        await ws.send("anyone there?")
        await ws.recv()
        await asyncio.sleep(2.5)
        pong = await ws.ping(b"still-alive")
        await pong
        await asyncio.sleep(1.0)
        await ws.close(1000, "")
    elif scenario == "zombie":
        for text in ("subscribe", "tick 1", "tick 2"):
            await ws.send(text)
            await ws.recv()
        # Bounded by the 20 s of the whole client (main).
        while not os.path.exists(os.environ["WS_RELEASE"]):
            await asyncio.sleep(0.1)
        await ws.close(1001, "")
    else:
        raise SystemExit(f"unknown scenario {scenario}")


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "server":
        kind = sys.argv[3] if len(sys.argv) > 3 else "plain"
        asyncio.run(serve(port, kind))
    elif mode == "client":
        scenario = sys.argv[3]
        kind = sys.argv[4] if len(sys.argv) > 4 else "plain"
        asyncio.run(asyncio.wait_for(client(port, scenario, kind), 20))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
