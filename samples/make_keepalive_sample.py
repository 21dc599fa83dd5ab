#!/usr/bin/env python3
"""Records samples/keepalive.pcap: real HTTP/1.1 traffic on loopback, captured with
tcpdump (run as root). Three scenarios, as SREs meet them:

1. three requests with `Connection: close`, each closed by the server;
2. three connections that ask for keep-alive, but the client closes after one request;
3. one connection reused for five requests, then closed by the client.
"""
import http.client
import http.server
import socket
import subprocess
import sys
import threading
import time

PORT = 18080
OUT = sys.argv[1] if len(sys.argv) > 1 else "keepalive.pcap"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SampleHTTP/1.0"
    sys_version = ""

    def do_GET(self):
        body = b"hello from " + self.path.encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        if self.headers.get("Connection", "").lower() == "close":
            self.send_header("Connection", "close")
        else:
            self.send_header("Connection", "keep-alive")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    dump = subprocess.Popen(
        ["tcpdump", "-i", "lo", "-U", "-s", "65535", "-w", OUT, f"tcp port {PORT}"],
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    for i in range(3):
        c = http.client.HTTPConnection("127.0.0.1", PORT)
        c.request("GET", f"/close/{i}", headers={"Connection": "close", "User-Agent": "sample/1.0"})
        c.getresponse().read()
        c.close()
        time.sleep(0.05)
    for i in range(3):
        c = http.client.HTTPConnection("127.0.0.1", PORT)
        c.request("GET", f"/once/{i}", headers={"Connection": "keep-alive", "User-Agent": "sample/1.0"})
        c.getresponse().read()
        time.sleep(0.2)
        c.close()
    c = http.client.HTTPConnection("127.0.0.1", PORT)
    for i in range(5):
        c.request("GET", f"/reuse/{i}", headers={"Connection": "keep-alive", "User-Agent": "sample/1.0"})
        c.getresponse().read()
        time.sleep(0.1 * (i + 1))
    c.close()
    time.sleep(1.0)
    dump.terminate()
    dump.wait()
    server.shutdown()


if __name__ == "__main__":
    main()
