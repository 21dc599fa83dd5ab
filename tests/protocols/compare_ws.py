#!/usr/bin/env python3
"""The WebSocket oracle: compares rustniffer's `--exchanges messages --ws-messages`
records with tshark's decoding of the same captures (tests/protocols/pcaps/ws_*.pcap,
see README.md), message by message.

    tests/protocols/compare_ws.py [--quiet] [CAPTURE.pcap ...]

For each capture:
  * tshark (TCP reassembly on, each connection's server port decoded as HTTP so that it
    follows the upgrade) gives every WebSocket frame: direction, FIN, opcode, payload
    length, close status code, and the text of a text frame (which tshark decompresses
    when permessage-deflate compressed it); frames are joined into messages as RFC 6455
    §5.4 says (a text or binary frame, continuation frames until FIN; control frames
    alone);
  * rustniffer ($RUSTNIFFER, default target/ci/rustniffer) prints one record per message;
  * per connection and per direction, in order, the messages are compared: opcode,
    payload length on the wire, close status code, and for a single-frame text message
    the decoded length (tshark's text length; ASCII in these captures).
A table per capture, then one line per difference. Exit status 1 when a difference is not
in known_differences.tsv (capture, connection, index, field, reason; '*' matches any),
or when rustniffer or tshark cannot run.
"""
import csv
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PCAPS = os.path.join(HERE, "pcaps")
KNOWN = os.path.join(HERE, "known_differences.tsv")
OPCODES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}
FIELDS = ["tcp.stream", "tcp.srcport", "tcp.dstport", "websocket.fin", "websocket.opcode",
          "websocket.payload_length", "websocket.payload_length_ext_16",
          "websocket.payload_length_ext_64", "websocket.payload.close.status_code",
          "websocket.payload.text"]


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    if p.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({p.returncode}): {p.stderr.strip()[:500]}")
    return p.stdout


def server_ports(pcap):
    """The destination port of every connection's first SYN."""
    out = run(["tshark", "-r", pcap, "-Y", "tcp.flags.syn==1 && tcp.flags.ack==0",
               "-T", "fields", "-e", "tcp.dstport"])
    return sorted({int(p) for p in out.split()})


def tshark_messages(pcap):
    """{client port: {"client": [...], "server": [...]}} of (opcode, length, close,
    text length or None)."""
    ports = server_ports(pcap)
    decode = [a for p in ports for a in ("-d", f"tcp.port=={p},http")]
    out = run(["tshark", "-r", pcap, *decode, "-o", "tcp.desegment_tcp_streams:TRUE",
               "-Y", "websocket", "-T", "fields", "-E", "separator=\t",
               "-E", "aggregator=\x1f", "-E", "occurrence=a"]
              + [a for f in FIELDS for a in ("-e", f)])
    conns = {}
    partial = {}
    for line in out.splitlines():
        cols = line.split("\t")
        cols += [""] * (len(FIELDS) - len(cols))
        src, dst = int(cols[1]), int(cols[2])
        server_side = src in ports
        client_port = dst if server_side else src
        side = "server" if server_side else "client"
        per = [c.split("\x1f") if c else [] for c in cols[3:]]
        fins, ops, lens, ext16, ext64, closes, texts = per
        n = len(ops)
        for i in range(n):
            op = int(ops[i], 0)
            fin = fins[i] in ("1", "True", "true")
            length = int(lens[i], 0)
            if length == 126:
                length = int(ext16.pop(0), 0)
            elif length == 127:
                length = int(ext64.pop(0), 0)
            close = int(closes.pop(0)) if op == 8 and closes else None
            text = texts.pop(0) if op in (0, 1) and texts and fin else None
            lists = conns.setdefault(client_port, {"client": [], "server": []})
            key = (client_port, side)
            if op >= 8:
                lists[side].append((OPCODES.get(op, str(op)), length, close, None))
                continue
            if op != 0:
                partial[key] = [OPCODES.get(op, str(op)), 0, 0]
            if key not in partial:
                continue
            partial[key][1] += length
            partial[key][2] += 1
            if fin:
                name, total, frames = partial.pop(key)
                decoded = len(text.encode()) if (name == "text" and frames == 1 and text) else None
                lists[side].append((name, total, None, decoded))
    return conns


def rustniffer_messages(pcap):
    binary = os.environ.get("RUSTNIFFER", os.path.join(ROOT, "target", "ci", "rustniffer"))
    fmt = "%source.port\t%ws.opcode\t%request.timestamp2\t%request.size\t%response.size\t%ws.size\t%ws.close"
    out = run([binary, "-f", pcap, "--exchanges", "messages", "--ws-messages", "-q", "-l", fmt])
    conns = {}
    for line in out.splitlines():
        port, op, rq_ts, rq, rs, size, close = line.split("\t")
        if op == "-":
            continue  # the upgrade
        side = "client" if rq_ts != "-" else "server"
        length = int(rq if side == "client" else rs)
        code = int(close.split()[0]) if op == "close" and close != "-" else None
        decoded = int(size) if size != "-" else None
        lists = conns.setdefault(int(port), {"client": [], "server": []})
        lists[side].append((op, length, code, decoded))
    return conns


def load_known():
    known = []
    if os.path.exists(KNOWN):
        with open(KNOWN, newline="") as f:
            for row in csv.reader(f, delimiter="\t"):
                if row and not row[0].startswith("#") and len(row) >= 5:
                    known.append(row[:5])
    return known


def is_known(known, capture, conn, index, field):
    for k in known:
        if all(want in ("*", got) for want, got in zip(k[:4], (capture, str(conn), str(index), field))):
            return k[4]
    return None


def compare(pcap, known, quiet):
    name = os.path.basename(pcap)
    theirs = tshark_messages(pcap)
    ours = rustniffer_messages(pcap)
    diffs = []
    count = agree = 0
    for conn_index, port in enumerate(sorted(set(theirs) | set(ours)), 1):
        for side in ("client", "server"):
            t = theirs.get(port, {}).get(side, [])
            o = ours.get(port, {}).get(side, [])
            for i in range(max(len(t), len(o))):
                count += 1
                index = f"{side}{i + 1}"
                if i >= len(t) or i >= len(o):
                    diffs.append((conn_index, index, "message",
                                  t[i] if i < len(t) else None, o[i] if i < len(o) else None))
                    continue
                ok = True
                for field, a, b in (("opcode", t[i][0], o[i][0]), ("length", t[i][1], o[i][1]),
                                    ("close", t[i][2], o[i][2]), ("decoded", t[i][3], o[i][3])):
                    if field == "decoded" and a is None:
                        continue  # tshark shows no decoded text for it
                    if a != b:
                        ok = False
                        diffs.append((conn_index, index, field, a, b))
                agree += ok
    unexplained = 0
    lines = []
    for conn, index, field, a, b in diffs:
        reason = is_known(known, name, conn, index, field)
        if reason is None:
            unexplained += 1
        lines.append(f"  {name} conn {conn} {index} {field}: tshark {a!r} rustniffer {b!r}"
                     + (f" (known: {reason})" if reason else " (UNEXPLAINED)"))
    if not quiet:
        print(f"{name:32} {len(set(theirs) | set(ours)):5} {count:9} {agree:9}")
        for line in lines:
            print(line)
    return count, agree, unexplained


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    quiet = "--quiet" in sys.argv
    pcaps = args or sorted(glob.glob(os.path.join(PCAPS, "ws_*.pcap")))
    known = load_known()
    if not quiet:
        print(f"{'capture':32} {'conns':>5} {'messages':>9} {'agreeing':>9}")
    total = agree = bad = 0
    for pcap in pcaps:
        c, a, u = compare(pcap, known, quiet)
        total += c
        agree += a
        bad += u
    print(f"{'total':32} {'':5} {total:9} {agree:9}   unexplained differences: {bad}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
