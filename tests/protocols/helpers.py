#!/usr/bin/env python3
"""Small programs that make_captures.sh runs on loopback (127.0.0.1 only) to record
the protocol captures, and the pcap editor that makes keepalive_gap.pcap.

    helpers.py wait-port PORT                  wait (at most 10 s) until 127.0.0.1:PORT accepts
    helpers.py upload-server PORT              HTTP/1.1 server: GET, and POST with a
                                               Content-Length or chunked body (100-continue)
    helpers.py close-server PORT COUNT         answers COUNT HTTP/1.0 requests with a
                                               close-delimited body (no Content-Length)
    helpers.py pipeline PORT PATH...           one connection: every request in ONE write
                                               (a path 'HEAD:/x' is a HEAD), reads every
                                               response, closes
    helpers.py drop-frame IN OUT PORT N        copy the pcap IN to OUT without the frame that
                                               carries the start of the N-th response sent
                                               from PORT (payload starting 'HTTP/')
Every loop is bounded in count and time.
"""
import http.server
import socket
import struct
import sys
import time


def wait_port(port):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"helpers.py: nothing listens on 127.0.0.1:{port} after 10 s")


class UploadHandler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.1, so that handle_expect_100 (the default) really sends "100 Continue".
    protocol_version = "HTTP/1.1"
    server_version = "UploadServer/1.0"
    sys_version = ""
    timeout = 10

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = bytearray()
            for _ in range(100000):
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # trailer section, up to the empty line
                    for _ in range(100):
                        if self.rfile.readline() in (b"\r\n", b"\n", b""):
                            break
                    break
                body += self.rfile.read(size)
                self.rfile.readline()  # CRLF after the chunk data
            return bytes(body)
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def _answer(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_POST(self):
        body = self._read_body()
        self._answer(b"received %d bytes\n" % len(body))

    def do_GET(self):
        self._answer(b"hello from " + self.path.encode() + b"\n")

    def log_message(self, *args):
        pass


def upload_server(port):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), UploadHandler)
    server.serve_forever()


def close_server(port, count):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(4)
    listener.settimeout(30)
    served = 0
    for _ in range(count + 10):
        if served == count:
            break
        conn, _ = listener.accept()
        conn.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        if b"\r\n\r\n" not in data:
            conn.close()  # a probe (wait-port) or a client that sent no request
            continue
        served += 1
        # An HTTP/1.0 response without Content-Length: the body ends when the
        # server closes the connection. Sent in three writes, a little apart.
        conn.sendall(b"HTTP/1.0 200 OK\r\nServer: CloseServer/1.0\r\nContent-Type: text/plain\r\n\r\n")
        for i in range(3):
            time.sleep(0.05)
            conn.sendall((f"line {i}: " + "x" * 1000 + "\n").encode())
        conn.shutdown(socket.SHUT_WR)
        # wait for the client's FIN (bounded by the 5 s timeout)
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass
        conn.close()
    listener.close()


def _responses_complete(data, methods):
    """How many complete responses `data` holds (Content-Length bodies, HEAD without body)."""
    pos = 0
    done = 0
    for method in methods:
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            return done
        head = data[pos:end].decode("latin-1").split("\r\n")
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        status = int(head[0].split()[1])
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            length = 0
        if len(data) < end + 4 + length:
            return done
        pos = end + 4 + length
        done += 1
    return done


def pipeline(port, paths):
    methods = []
    requests = b""
    for path in paths:
        method, _, target = path.rpartition(":") if path.startswith("HEAD:") else ("GET", "", path)
        methods.append(method)
        requests += f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: pipeline/1.0\r\n\r\n".encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(requests)  # every request in ONE write
    data = b""
    deadline = time.monotonic() + 10
    while _responses_complete(data, methods) < len(methods) and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    got = _responses_complete(data, methods)
    sock.close()
    if got != len(methods):
        sys.exit(f"helpers.py pipeline: {got} of {len(methods)} responses")


def drop_frame(src, dst, port, nth):
    """Copies a classic pcap record by record, leaving out one frame: the one whose TCP
    source port is `port` and whose payload is the start of the nth response."""
    with open(src, "rb") as f:
        raw = f.read()
    magic = raw[:4]
    endian = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",
              b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}[magic]
    linktype = struct.unpack(endian + "I", raw[20:24])[0]
    offset = 24
    out = [raw[:24]]
    seen = 0
    dropped = None
    frame = 0
    while offset + 16 <= len(raw):
        caplen = struct.unpack(endian + "I", raw[offset + 8:offset + 12])[0]
        record = raw[offset:offset + 16 + caplen]
        packet = record[16:]
        offset += 16 + caplen
        frame += 1
        if linktype == 1:  # Ethernet (tcpdump -i lo writes this)
            ether = struct.unpack("!H", packet[12:14])[0]
            ip = packet[14:]
        elif linktype == 113:  # Linux cooked
            ether = struct.unpack("!H", packet[14:16])[0]
            ip = packet[16:]
        else:
            sys.exit(f"helpers.py drop-frame: link type {linktype} not handled")
        if ether == 0x0800 and ip[9] == 6:
            ihl = (ip[0] & 15) * 4
            total = struct.unpack("!H", ip[2:4])[0]
            tcp = ip[ihl:total]
            sport = struct.unpack("!H", tcp[0:2])[0]
            payload = tcp[(tcp[12] >> 4) * 4:]
            if dropped is None and sport == port and payload.startswith(b"HTTP/"):
                seen += 1
                if seen == nth:
                    dropped = frame
                    continue
        out.append(record)
    if dropped is None:
        sys.exit(f"helpers.py drop-frame: no response {nth} from port {port} in {src}")
    with open(dst, "wb") as f:
        f.write(b"".join(out))
    print(f"helpers.py drop-frame: {dst}: frame {dropped} of {src} left out (response {nth})")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "wait-port":
        wait_port(int(args[0]))
    elif cmd == "upload-server":
        upload_server(int(args[0]))
    elif cmd == "close-server":
        close_server(int(args[0]), int(args[1]))
    elif cmd == "pipeline":
        pipeline(int(args[0]), args[1:])
    elif cmd == "drop-frame":
        drop_frame(args[0], args[1], int(args[2]), int(args[3]))
    else:
        sys.exit(f"helpers.py: unknown command {cmd}")


if __name__ == "__main__":
    main()
