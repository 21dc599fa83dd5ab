"""A gRPC-style HTTP/2 server and client in clear text, for h2_grpc.pcap.

    python3 h2_grpc.py server PORT    serves until the client's session ends
    python3 h2_grpc.py client PORT    runs the fixed session below, then exits
    python3 h2_grpc.py upgrade PORT   answers one HTTP/1.1 `Upgrade: h2c` request with
                                      101, then its response on stream 1 (for curl --http2)

The session, on one connection: a PING from the client (answered by the server);
three unary calls whose responses end with trailers (grpc-status 0, 0 and 5); a call
the client cancels (RST_STREAM CANCEL) before the server answers; a PING from the
server; then the server says GOAWAY (NO_ERROR, debug text "bye") and both close.
Uses the `h2` package (Debian python3-h2), a sans-I/O HTTP/2 state machine.
"""

import socket
import struct
import sys
import time

import h2.config
import h2.connection
import h2.events

CALLS = [
    ("/demo.Echo/Say", b"hello", 0),
    ("/demo.Echo/Say", b"second call", 0),
    ("/demo.Echo/Find", b"missing", 5),
]
CANCELLED = "/demo.Echo/Slow"


def grpc_message(payload):
    # gRPC length-prefixed message: uncompressed flag, 4-byte length.
    return struct.pack(">BI", 0, len(payload)) + payload


def pump(sock, conn):
    data = conn.data_to_send()
    if data:
        sock.sendall(data)


def serve(port):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(1)
    sock, _ = listener.accept()
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    pump(sock, conn)
    paths = {}
    answered = 0
    while True:
        data = sock.recv(65536)
        if not data:
            break
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                paths[event.stream_id] = dict(event.headers)[b":path"].decode()
            elif isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                path = paths.get(event.stream_id)
                status = next((s for p, _, s in CALLS if p == path), 0)
                if path == CANCELLED:
                    continue
                conn.send_headers(event.stream_id, [(":status", "200"), ("content-type", "application/grpc")])
                conn.send_data(event.stream_id, grpc_message(b"reply to " + path.encode()))
                conn.send_headers(
                    event.stream_id,
                    [("grpc-status", str(status)), ("grpc-message", "ok" if status == 0 else "not found")],
                    end_stream=True,
                )
                answered += 1
            elif isinstance(event, h2.events.StreamReset):
                # The cancelled call: ping the client; its answer ends the session.
                conn.ping(b"srvping1")
            elif isinstance(event, h2.events.PingAckReceived):
                conn.close_connection(error_code=0, additional_data=b"bye")
        pump(sock, conn)
    sock.close()
    listener.close()


def client(port):
    sock = socket.create_connection(("127.0.0.1", port))
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    pump(sock, conn)

    def wait_for(kind, stream_id=None):
        while True:
            data = sock.recv(65536)
            if not data:
                return None
            events = conn.receive_data(data)
            pump(sock, conn)
            for event in events:
                if isinstance(event, kind) and (stream_id is None or event.stream_id == stream_id):
                    return event

    conn.ping(b"cliping1")
    pump(sock, conn)
    wait_for(h2.events.PingAckReceived)
    for path, body, _ in CALLS:
        stream_id = conn.get_next_available_stream_id()
        conn.send_headers(
            stream_id,
            [(":method", "POST"), (":scheme", "http"), (":authority", "127.0.0.1:%d" % port),
             (":path", path), ("content-type", "application/grpc"), ("te", "trailers")],
        )
        conn.send_data(stream_id, grpc_message(body), end_stream=True)
        pump(sock, conn)
        wait_for(h2.events.StreamEnded, stream_id)
    stream_id = conn.get_next_available_stream_id()
    conn.send_headers(
        stream_id,
        [(":method", "POST"), (":scheme", "http"), (":authority", "127.0.0.1:%d" % port),
         (":path", CANCELLED), ("content-type", "application/grpc"), ("te", "trailers")],
    )
    conn.send_data(stream_id, grpc_message(b"never mind"), end_stream=True)
    pump(sock, conn)
    time.sleep(0.05)
    conn.reset_stream(stream_id, error_code=8)
    pump(sock, conn)
    wait_for(h2.events.ConnectionTerminated)
    time.sleep(0.05)
    sock.close()


def upgrade(port):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(1)
    sock, _ = listener.accept()
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(65536)
        if not data:
            return
        head += data
    head, rest = head.split(b"\r\n\r\n", 1)
    settings = next(
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"http2-settings:")
    )
    sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_upgrade_connection(settings)
    body = b"upgraded to h2c\n"
    conn.send_headers(1, [(":status", "200"), ("content-type", "text/plain"), ("content-length", str(len(body)))])
    conn.send_data(1, body, end_stream=True)
    pump(sock, conn)
    data = rest
    while True:
        if data:
            conn.receive_data(data)
            pump(sock, conn)
        data = sock.recv(65536)
        if not data:
            break
    sock.close()
    listener.close()


if __name__ == "__main__":
    {"server": serve, "client": client, "upgrade": upgrade}[sys.argv[1]](int(sys.argv[2]))
