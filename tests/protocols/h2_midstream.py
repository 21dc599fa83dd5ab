"""An HTTP/2 client (prior knowledge, clear text) for h2_midstream.pcap: a connection
whose capture starts after it opened.

    python3 h2_midstream.py PORT GO_FILE

On one connection to nghttpd: GET /page1 and /page2 (answered, filling both sides'
HPACK dynamic tables), then the client waits until GO_FILE exists (the capture has
started), then GET /page3, /page1 again, /missing, and /page4 and /page5 on two
concurrent streams, each answered, and closes. The capture sees the later requests
only: their headers may refer to dynamic-table entries made before it started.
Uses the `h2` package (Debian python3-h2).
"""

import os
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events


def pump(sock, conn):
    data = conn.data_to_send()
    if data:
        sock.sendall(data)


def request(conn, path, port):
    sid = conn.get_next_available_stream_id()
    conn.send_headers(
        sid,
        [
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", f"127.0.0.1:{port}"),
            (":path", path),
            ("user-agent", "h2_midstream.py"),
            ("accept", "*/*"),
        ],
        end_stream=True,
    )
    return sid


def wait_for(sock, conn, sids):
    open_ = set(sids)
    while open_:
        data = sock.recv(65536)
        if not data:
            raise SystemExit("h2_midstream.py: the server closed")
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                open_.discard(event.stream_id)
        pump(sock, conn)


def main():
    port, go = int(sys.argv[1]), sys.argv[2]
    sock = socket.create_connection(("127.0.0.1", port))
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    pump(sock, conn)
    for path in ["/page1", "/page2"]:
        sid = request(conn, path, port)
        pump(sock, conn)
        wait_for(sock, conn, [sid])
    print("h2_midstream.py: waiting for the capture", flush=True)
    deadline = time.time() + 20
    while not os.path.exists(go):
        if time.time() > deadline:
            raise SystemExit("h2_midstream.py: no go file")
        time.sleep(0.05)
    for path in ["/page3", "/page1", "/missing"]:
        sid = request(conn, path, port)
        pump(sock, conn)
        wait_for(sock, conn, [sid])
        time.sleep(0.05)
    sids = [request(conn, "/page4", port), request(conn, "/page5", port)]
    pump(sock, conn)
    wait_for(sock, conn, sids)
    conn.close_connection()
    pump(sock, conn)
    time.sleep(0.2)
    sock.close()


if __name__ == "__main__":
    main()
