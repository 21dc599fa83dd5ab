#!/usr/bin/env python3
"""The HTTP/2 oracle: compares rustniffer's `--exchanges messages` records of HTTP/2
streams with tshark's decoding of the same captures (tests/protocols/pcaps/h2_*.pcap,
see README.md).

    tests/protocols/compare_h2.py [--quiet] [CAPTURE.pcap ...]

For each capture:
  * tshark (two passes, TCP reassembly on, PDML) decodes every HTTP/2 frame (decode-as
    http2 on the capture's port; http for the h2c upgrade capture, which tshark follows
    through the 101): per connection and stream id, the request's :method and :path (for
    the upgraded stream 1, the HTTP/1.1 request line), the final :status, the DATA
    payload bytes of each direction (padding excluded), grpc-status, and RST_STREAM with
    its sender; a stream is one that carries a HEADERS frame (PRIORITY-only streams are
    not requests); tshark's tcp.stream numbers are mapped to (client, server) through the
    SYN of each connection, or for a capture picked up mid-stream (h2_midstream*.pcap,
    read with -m) through its first packet, whose sender rustniffer takes for the client;
  * rustniffer ($RUSTNIFFER, default target/ci/rustniffer) prints one tab-separated record
    per exchange with %h2.stream;
  * per connection and stream id, the fields are compared.
A table per capture, then one line per difference. Exit status 1 when a difference is not
in known_differences.tsv (capture, connection, stream id in the index column, field,
reason; '*' matches any), or when rustniffer or tshark cannot run.
"""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import KNOWN, PCAPS, ROOT, is_known, load_known, run  # noqa: E402

# The ports of make_h2_captures.sh: 18183 is the h2c upgrade (HTTP/1.1 first).
H2_PORTS = [18180, 18181, 18182, 18184, 18502]
UPGRADE_PORTS = [18183]
DECODE_AS = [a for p in H2_PORTS for a in ("-d", f"tcp.port=={p},http2")] + \
            [a for p in UPGRADE_PORTS for a in ("-d", f"tcp.port=={p},http")]
TSHARK_PREFS = ["-o", "tcp.desegment_tcp_streams:TRUE"]

FIELDS = ["source.ip", "source.port", "dest.ip", "dest.port", "h2.stream", "request.method",
          "request.url", "response.code", "request.body.size", "response.body.size",
          "response.header.value(grpc-status)", "h2.reset"]
COMPARED = FIELDS[5:]
RUSTNIFFER_FORMAT = "%tab".join("%" + f for f in FIELDS)
NONE = "-"
ERROR_NAMES = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
               "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM",
               "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
               "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"]


class Stream:
    def __init__(self, sid):
        self.sid = sid
        self.method = None
        self.path = None
        self.status = None
        self.data = [0, 0]
        self.grpc_status = ""
        self.reset = None
        self.headers = False

    def expected(self):
        return {
            "request.method": self.method or NONE,
            "request.url": self.path or NONE,
            "response.code": self.status or NONE,
            "request.body.size": str(self.data[0]),
            # No response head: no response, so no body size (rustniffer's not-found).
            "response.body.size": str(self.data[1]) if self.status else NONE,
            "response.header.value(grpc-status)": self.grpc_status,
            "h2.reset": self.reset or NONE,
        }


def children(elem, name):
    return [f for f in elem.findall("field") if f.get("name") == name]


def first(elem, name):
    for f in elem.iter("field"):
        if f.get("name") == name:
            return f.get("show")
    return None


def mid_stream(cap):
    """Whether the capture starts after its connections opened (read with -m)."""
    return os.path.basename(cap).startswith("h2_midstream")


def tshark_side(cap):
    base = ["tshark", "-r", cap, "-n"] + DECODE_AS + TSHARK_PREFS
    opening = "tcp" if mid_stream(cap) else "tcp.flags.syn==1 && tcp.flags.ack==0"
    conns_cmd = base + ["-Y", opening, "-T", "fields",
                        "-E", "separator=/t", "-e", "tcp.stream", "-e", "ip.src",
                        "-e", "tcp.srcport", "-e", "ip.dst", "-e", "tcp.dstport"]
    conns = {}
    for line in run(conns_cmd).splitlines():
        stream, src, sport, dst, dport = (line.split("\t") + [""] * 5)[:5]
        if int(stream) not in conns:
            conns[int(stream)] = {"number": len(conns) + 1, "client": (src, sport),
                                  "server": (dst, dport), "streams": {}}
    pdml = run(base + ["-2", "-Y", "http2 or http", "-T", "pdml"])
    for packet in ET.fromstring(pdml).iter("packet"):
        tcp = next(p for p in packet.findall("proto") if p.get("name") == "tcp")
        conn = conns[int(first(tcp, "tcp.stream"))]
        side = 0 if first(tcp, "tcp.srcport") == conn["client"][1] else 1
        for proto in packet.findall("proto"):
            if proto.get("name") == "http" and first(proto, "http.request.method"):
                # The h2c upgrade request: stream 1's request (RFC 9113 section 3.2).
                s = conn["streams"].setdefault(1, Stream(1))
                s.method = first(proto, "http.request.method")
                s.path = first(proto, "http.request.uri")
                s.headers = True
            if proto.get("name") != "http2":
                continue
            for frame in children(proto, "http2.stream"):
                frame_type = first(frame, "http2.type")
                sid = int(first(frame, "http2.streamid") or 0)
                if frame_type is None or sid == 0:
                    continue
                frame_type = int(frame_type)
                s = conn["streams"].setdefault(sid, Stream(sid))
                if frame_type == 0:  # DATA: the payload less the padding
                    length = int(first(frame, "http2.length"))
                    padded = first(frame, "http2.flags.padded") in ("1", "True")
                    pad = int(first(frame, "http2.pad_length") or 0) + 1 if padded else 0
                    s.data[side] += length - pad
                elif frame_type == 1:  # HEADERS
                    s.headers = True
                    for h in frame.iter("field"):
                        if h.get("name") != "http2.header":
                            continue
                        name, value = first(h, "http2.header.name"), first(h, "http2.header.value")
                        if side == 0 and name == ":method":
                            s.method = value
                        elif side == 0 and name == ":path":
                            s.path = value
                        elif side == 1 and name == ":status" and not value.startswith("1"):
                            s.status = value
                        elif side == 1 and name == "grpc-status":
                            s.grpc_status = value
                elif frame_type == 3:  # RST_STREAM
                    code = int(first(frame, "http2.rst_stream.error") or 0)
                    name = ERROR_NAMES[code] if code < len(ERROR_NAMES) else hex(code)
                    s.reset = f"{name} by {'client' if side == 0 else 'server'}"
    return sorted(conns.values(), key=lambda c: c["number"])


def rustniffer_side(binary, cap):
    cmd = [binary, "-f", cap, "--exchanges", "messages", "-l", RUSTNIFFER_FORMAT, "-n", "-"]
    if mid_stream(cap):
        cmd.append("-m")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"rustniffer exited with {proc.returncode}: {err[0] if err else '(no message)'}")
    records = []
    for line in proc.stdout.decode(errors="replace").splitlines():
        cols = line.split("\t")
        if len(cols) != len(FIELDS):
            raise RuntimeError(f"rustniffer printed a record of {len(cols)} fields: {line!r}")
        records.append(dict(zip(FIELDS, cols)))
    return records


def compare(cap, conns, records, known, quiet):
    name = os.path.basename(cap)
    by_key = {}
    for r in records:
        if r["h2.stream"] == NONE:
            continue
        key = (r["source.ip"], r["source.port"], r["dest.ip"], r["dest.port"], r["h2.stream"])
        by_key.setdefault(key, []).append(r)
    streams = agreeing = 0
    unexplained = []
    explained = []
    for c in conns:
        for sid, s in sorted(c["streams"].items()):
            if not s.headers:
                continue
            streams += 1
            key = c["client"] + c["server"] + (str(sid),)
            found = by_key.pop(key, [])
            diffs = []
            if len(found) != 1:
                diffs.append(("record", "1 record", f"{len(found)} records"))
            else:
                got = found[0]
                for field, want in s.expected().items():
                    if got[field] != want:
                        diffs.append((field, want, got[field]))
            if not diffs:
                agreeing += 1
            for field, want, got in diffs:
                line = f"{name} connection {c['number']} stream {sid} {field}: tshark {want!r}, rustniffer {got!r}"
                if is_known(known, name, c["number"], sid, field):
                    explained.append(line)
                else:
                    unexplained.append(line)
    for key, extra in by_key.items():
        unexplained.append(f"{name} {key}: {len(extra)} rustniffer record(s) of a stream tshark does not show")
    if not quiet:
        print(f"{name}: {streams} streams, {agreeing} agree in every field, "
              f"{len(explained)} known differences, {len(unexplained)} unexplained")
    return streams, agreeing, explained, unexplained


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    quiet = "--quiet" in sys.argv
    caps = [os.path.abspath(a) for a in args] or sorted(
        os.path.join(PCAPS, f) for f in os.listdir(PCAPS) if f.startswith("h2_") and f.endswith(".pcap"))
    binary = os.environ.get("RUSTNIFFER", os.path.join(ROOT, "target", "ci", "rustniffer"))
    known = load_known()
    total = [0, 0]
    problems = []
    notes = []
    print(f"{'capture':<24} {'streams':>8} {'agree':>8}")
    for cap in caps:
        try:
            conns = tshark_side(cap)
            records = rustniffer_side(binary, cap)
        except (RuntimeError, subprocess.TimeoutExpired, ET.ParseError) as e:
            problems.append(f"{os.path.basename(cap)}: {e}")
            continue
        streams, agreeing, explained, unexplained = compare(cap, conns, records, known, True)
        total[0] += streams
        total[1] += agreeing
        print(f"{os.path.basename(cap):<24} {streams:>8} {agreeing:>8}")
        notes += explained
        problems += unexplained
    print(f"{'total':<24} {total[0]:>8} {total[1]:>8}")
    for line in notes:
        if not quiet:
            print(f"known: {line}")
    for line in problems:
        print(f"DIFFERENCE: {line}")
    return 1 if problems or total[0] == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
