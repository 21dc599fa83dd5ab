"""Clients and servers of the report's captures (make_captures.sh); loopback only.

  clients.py single-sessions URL N        N requests, each with its own requests.Session
                                          (keep-alive asked, one exchange per connection)
  clients.py session URL N                N requests on one requests.Session (reused)
  clients.py pool HOST PORT --conns C --requests K --idle-timeout T [--reuse-after S]
                                          a tiny asyncio pool: C connections, K requests
                                          each, then closed after T s idle; with S, half
                                          of them send one more request after S s idle
                                          (after the server's keep-alive timeout: it hits
                                          a closed connection) and the other half close
                                          as soon as the server does
  clients.py rst-server PORT N            accepts N connections, reads a request, aborts
                                          with an RST (SO_LINGER 0)
"""
import asyncio
import socket
import struct
import sys
import time


def single_sessions(url, n):
    import requests
    for _ in range(n):
        with requests.Session() as s:
            s.get(url, timeout=5).content


def session(url, n):
    import requests
    with requests.Session() as s:
        for _ in range(n):
            s.get(url, timeout=5).content
            time.sleep(0.05)


async def read_response(reader):
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await asyncio.wait_for(reader.readexactly(length), 3)


def request(host):
    return b"GET /small HTTP/1.1\r\nHost: " + host + b"\r\nConnection: keep-alive\r\n\r\n"


async def pooled(i, host, port, requests, idle_timeout, reuse_after):
    await asyncio.sleep(i * 0.05)
    reader, writer = await asyncio.open_connection(host, port)
    for k in range(requests):
        if k:
            await asyncio.sleep(0.1)
        writer.write(request(b"pool.test"))
        await writer.drain()
        await read_response(reader)
    if reuse_after is None:
        # The pool's idle timer: the connection goes after idle_timeout unused.
        await asyncio.sleep(idle_timeout)
    elif i % 2 == 0:
        # Reused after reuse_after s idle, without noticing the server's close.
        await asyncio.sleep(reuse_after)
        try:
            writer.write(request(b"pool.test"))
            await writer.drain()
            await read_response(reader)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            pass
    else:
        # Notices the server's FIN (end of stream) and closes at once.
        try:
            await asyncio.wait_for(reader.read(), idle_timeout)
        except asyncio.TimeoutError:
            pass
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass


async def pool(host, port, conns, requests, idle_timeout, reuse_after):
    await asyncio.gather(*(pooled(i, host, port, requests, idle_timeout, reuse_after)
                           for i in range(conns)))


def rst_server(port, n):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(64)
    srv.settimeout(20)
    print("ready", flush=True)
    for _ in range(n):
        c, _ = srv.accept()
        c.settimeout(3)
        try:
            c.recv(4096)
        except OSError:
            pass
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    srv.close()


def main(argv):
    cmd = argv[0]
    if cmd == "single-sessions":
        single_sessions(argv[1], int(argv[2]))
    elif cmd == "session":
        session(argv[1], int(argv[2]))
    elif cmd == "pool":
        host, port = argv[1], int(argv[2])
        opts = dict(zip(argv[3::2], argv[4::2]))
        asyncio.run(pool(host, port, int(opts["--conns"]), int(opts["--requests"]),
                         float(opts["--idle-timeout"]),
                         float(opts["--reuse-after"]) if "--reuse-after" in opts else None))
    elif cmd == "rst-server":
        rst_server(int(argv[1]), int(argv[2]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
