#!/usr/bin/env python3
"""The oracle: compares rustniffer's `--exchanges messages` records with tshark's
decoding of the same captures (tests/protocols/pcaps/*.pcap but the WebSocket captures
ws_*.pcap, which compare_ws.py compares; see README.md).

    tests/protocols/compare.py [--tshark-only] [--quiet] [CAPTURE.pcap ...]

For each capture:
  * tshark (two passes, TCP and body reassembly on, bodies not decompressed) gives the
    HTTP messages (PDML: method, URI, version, status, request_in, body size) and the TLS
    hellos (fields: SNI, ALPN, cipher suite, versions); its tcp.stream numbers are mapped to
    (client ip, port, server ip, port) through the SYN of each connection;
  * rustniffer ($RUSTNIFFER, default target/ci/rustniffer) prints one tab-separated record
    per exchange;
  * per connection and in order, the HTTP exchanges are compared field by field (method,
    url, code, request and response body size, 1xx count, complete, protocol) and the TLS
    handshake against the record that carries TLS fields (sni, alpn, version, cipher).
A table per capture, then one line per difference. Exit status 1 when a difference is not
in known_differences.tsv (capture, connection, index, field, reason; '*' matches any
connection, index or field; connection is the 1-based position of the connection in the capture,
in the order of the SYNs), or when rustniffer or tshark cannot run.
"""
import csv
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PCAPS = os.path.join(HERE, "pcaps")
KNOWN = os.path.join(HERE, "known_differences.tsv")

# The ports of make_captures.sh: tshark does not know them, so decode-as.
HTTP_PORTS = [18081, 18082, 18083, 18084, 18085, 18086]
TLS_PORTS = [18443, 18444]
DECODE_AS = [a for p in HTTP_PORTS for a in ("-d", f"tcp.port=={p},http")] + \
            [a for p in TLS_PORTS for a in ("-d", f"tcp.port=={p},tls")]
TSHARK_PREFS = ["-o", "tcp.desegment_tcp_streams:TRUE", "-o", "http.desegment_body:TRUE",
                "-o", "http.dechunk_body:TRUE", "-o", "http.decompress_body:FALSE"]

FIELDS = ["source.ip", "source.port", "dest.ip", "dest.port", "protocol", "exchange.index",
          "request.method", "request.url", "response.code", "request.body.size",
          "response.body.size", "response.interim", "exchange.complete", "tls.sni",
          "tls.alpn", "tls.version", "tls.cipher"]
RUSTNIFFER_FORMAT = "%tab".join("%" + f for f in FIELDS)

TLS_VERSIONS = {0x0300: "SSL_3.0", 0x0301: "TLS_1.0", 0x0302: "TLS_1.1", 0x0303: "TLS_1.2",
                0x0304: "TLS_1.3"}
NONE = "-"


def tshark_commands(cap):
    """The three tshark commands this oracle runs on a capture."""
    base = ["tshark", "-r", cap, "-n"] + DECODE_AS + TSHARK_PREFS
    conns = base + ["-Y", "tcp.flags.syn==1 && tcp.flags.ack==0", "-T", "fields",
                    "-E", "separator=/t", "-e", "tcp.stream", "-e", "ip.src", "-e", "ipv6.src",
                    "-e", "tcp.srcport", "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.dstport"]
    http = base + ["-2", "-Y", "http", "-T", "pdml"]
    tls = base + ["-2", "-Y", "tls.handshake.type==1 or tls.handshake.type==2", "-T", "fields",
                  "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,",
                  "-e", "frame.number", "-e", "tcp.stream", "-e", "tls.handshake.type",
                  "-e", "tls.handshake.extensions_server_name",
                  "-e", "tls.handshake.extensions_alpn_str", "-e", "tls.handshake.ciphersuite",
                  "-e", "tls.handshake.extensions.supported_version",
                  "-e", "tls.handshake.version"]
    return conns, http, tls


def run(cmd):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"{cmd[0]} exited with {proc.returncode}: {err[-1] if err else '(no message)'}")
    return proc.stdout.decode(errors="replace")


_CIPHERS = None


def cipher_names():
    """IANA cipher suite code -> name, from tshark's own value table (tshark -G values)."""
    global _CIPHERS
    if _CIPHERS is None:
        _CIPHERS = {}
        for line in run(["tshark", "-G", "values"]).splitlines():
            parts = line.split("\t")
            if len(parts) == 4 and parts[0] == "V" and parts[1] == "tls.handshake.ciphersuite":
                _CIPHERS[int(parts[2], 0)] = parts[3]
    return _CIPHERS


# --- tshark side --------------------------------------------------------------------------

class Message:
    """One HTTP message as tshark decoded it."""

    def __init__(self, frame, stream):
        self.frame = frame
        self.stream = stream
        self.method = None
        self.uri = None
        self.version = None
        self.code = None
        self.request_in = None
        self.body = 0
        self.body_seen = False

    def describe(self):
        if self.method:
            return f"{self.method} {self.uri} {self.version} (frame {self.frame}, body {self.body})"
        return f"{self.code} (frame {self.frame}, body {self.body})"


def _fields(elem):
    for f in elem.iter("field"):
        yield f


def parse_http_pdml(text):
    """Every HTTP request and response in frame order (and in order within a frame)."""
    messages = []
    root = ET.fromstring(text)
    for packet in root.iter("packet"):
        frame = stream = None
        protos = list(packet.findall("proto"))
        for proto in protos:
            if proto.get("name") == "frame":
                for f in _fields(proto):
                    if f.get("name") == "frame.number":
                        frame = int(f.get("show"))
            elif proto.get("name") == "tcp":
                for f in _fields(proto):
                    if f.get("name") == "tcp.stream":
                        stream = int(f.get("show"))
        current = None
        for proto in protos:
            name = proto.get("name")
            if name == "http":
                msg = Message(frame, stream)
                for f in _fields(proto):
                    n = f.get("name")
                    if n == "http.request.method":
                        msg.method = f.get("show")
                    elif n == "http.request.uri":
                        msg.uri = f.get("show")
                    elif n == "http.request.version" and msg.version is None:
                        msg.version = f.get("show")
                    elif n == "http.response.version" and msg.version is None:
                        msg.version = f.get("show")
                    elif n == "http.response.code" and msg.code is None:
                        msg.code = f.get("show")
                    elif n == "http.request_in":
                        msg.request_in = int(f.get("show"))
                    elif n == "http.file_data" and not msg.body_seen:
                        msg.body, msg.body_seen = int(f.get("size")), True
                    elif n == "data.len" and not msg.body_seen:
                        msg.body, msg.body_seen = int(f.get("show")), True
                if msg.method or msg.code:
                    messages.append(msg)
                    current = msg
                else:
                    current = None  # a continuation: no message of its own
            elif name in ("geninfo", "frame", "eth", "sll", "ip", "ipv6", "tcp",
                          "fake-field-wrapper", "tls"):
                continue
            elif current is not None and not current.body_seen:
                # the body's dissector (data-text-lines, media, image-*, ...)
                current.body, current.body_seen = int(proto.get("size", "0")), True
    return messages


class Exchange:
    def __init__(self, request):
        self.request = request
        self.interim = []
        self.response = None
        self.notes = []


def pair(messages):
    """Requests with their responses, per tcp.stream: a final response goes to the first
    unanswered request of tshark's request_in frame when tshark gives one, else to the
    first unanswered request after the last answered one (HTTP/1.1 order); a 1xx goes to
    the request the next final response would go to (the first unanswered one)."""
    by_stream = {}
    for m in messages:
        by_stream.setdefault(m.stream, []).append(m)
    result = {}
    for stream, msgs in by_stream.items():
        exchanges = [Exchange(m) for m in msgs if m.method]
        responses = [m for m in msgs if not m.method]
        orphans = []
        last = -1
        for r in responses:
            interim = r.code is not None and r.code.startswith("1")
            target = None
            if r.request_in is not None and not interim:
                for i, e in enumerate(exchanges):
                    if e.request.frame == r.request_in and e.response is None:
                        target = i
                        break
            if target is None:
                for i in range(len(exchanges)):
                    if exchanges[i].response is None and (interim or i > last):
                        target = i
                        break
                if target is not None and r.request_in is not None and not interim:
                    exchanges[target].notes.append(
                        f"tshark's request_in {r.request_in} has no unanswered request: paired by order")
                elif target is not None and r.request_in is None:
                    exchanges[target].notes.append(
                        f"{'1xx ' if interim else ''}response frame {r.frame} has no request_in: paired by order")
            if target is None:
                orphans.append(r)
                continue
            if interim:
                exchanges[target].interim.append(r)
            else:
                exchanges[target].response = r
                last = target
        result[stream] = (exchanges, orphans)
    return result


def parse_tls(text):
    """tcp.stream -> {client_hello fields, server_hello fields}."""
    hellos = {}
    for line in text.splitlines():
        cols = line.split("\t")
        cols += [""] * (8 - len(cols))
        frame, stream, types, sni, alpn, suites, versions, version = cols[:8]
        types = types.split(",")
        h = hellos.setdefault(int(stream), {})
        if "1" in types and "ch" not in h:
            h["ch"] = {"frame": int(frame), "sni": sni, "alpn": alpn, "versions": versions,
                       "version": version}
        if "2" in types and "sh" not in h:
            h["sh"] = {"frame": int(frame), "alpn": alpn, "suite": suites.split(",")[0],
                       "versions": versions, "version": version.split(",")[0]}
    return hellos


def expected_tls(h):
    ch, sh = h.get("ch", {}), h.get("sh")
    exp = {"sni": ch.get("sni") or NONE}
    if sh and sh["alpn"]:
        exp["alpn"] = sh["alpn"]
    else:
        exp["alpn"] = ch.get("alpn") or NONE
    if sh:
        v = sh["versions"] or sh["version"]
        exp["version"] = TLS_VERSIONS.get(int(v.split(",")[0], 0), v)
        exp["cipher"] = cipher_names().get(int(sh["suite"], 0), sh["suite"]) if sh["suite"] else NONE
    else:
        offered = [int(v, 0) for v in (ch.get("versions") or ch.get("version") or "").split(",") if v]
        offered = [v for v in offered if v in TLS_VERSIONS]  # GREASE values left out
        exp["version"] = TLS_VERSIONS[max(offered)] if offered else NONE
        exp["cipher"] = NONE
    return exp


class Connection:
    def __init__(self, number, stream, client, server):
        self.number = number
        self.stream = stream
        self.client = client
        self.server = server
        self.exchanges = []
        self.orphans = []
        self.tls = None

    @property
    def label(self):
        return f"{self.client[0]}:{self.client[1]}>{self.server[0]}:{self.server[1]}"


def tshark_side(cap):
    conns_cmd, http_cmd, tls_cmd = tshark_commands(cap)
    conns = {}
    for line in run(conns_cmd).splitlines():
        stream, src4, src6, sport, dst4, dst6, dport = (line.split("\t") + [""] * 7)[:7]
        stream = int(stream)
        if stream not in conns:
            conns[stream] = Connection(len(conns) + 1, stream, (src4 or src6, sport),
                                       (dst4 or dst6, dport))
    paired = pair(parse_http_pdml(run(http_cmd)))
    hellos = parse_tls(run(tls_cmd))
    for stream in set(paired) | set(hellos):
        if stream not in conns:
            raise RuntimeError(f"tcp.stream {stream} of {cap} has no SYN: cannot name its connection")
    for stream, (exchanges, orphans) in paired.items():
        conns[stream].exchanges = exchanges
        conns[stream].orphans = orphans
    for stream, h in hellos.items():
        if "ch" in h:
            conns[stream].tls = (h, expected_tls(h))
    return sorted(conns.values(), key=lambda c: c.number)


def body_or_none(msg):
    return str(msg.body) if msg is not None else NONE


def expected_exchange(e):
    req, resp = e.request, e.response
    version = (req.version or "").lower()
    return {
        "protocol": version if version in ("http/1.0", "http/1.1") else NONE,
        "request.method": req.method,
        "request.url": req.uri,
        "response.code": resp.code if resp else NONE,
        "request.body.size": str(req.body),
        "response.body.size": body_or_none(resp),
        "response.interim": str(len(e.interim)),
        "exchange.complete": "yes" if resp else "no",
    }


def print_tshark(cap, conns):
    print(f"tshark: {os.path.basename(cap)}")
    for c in conns:
        print(f"  connection {c.number} {c.label} (tcp.stream {c.stream})")
        for i, e in enumerate(c.exchanges, 1):
            resp = e.response
            interim = "".join(f" [{r.code} in frame {r.frame}]" for r in e.interim)
            answer = (f"{resp.code} {resp.version} (frame {resp.frame}, request_in "
                      f"{resp.request_in if resp.request_in is not None else '-'}, body {resp.body})"
                      if resp else "no response")
            print(f"    {i}. {e.request.describe()}{interim} -> {answer}")
            for note in e.notes:
                print(f"       note: {note}")
        for r in c.orphans:
            print(f"    response without a request: {r.describe()}")
        if c.tls:
            h, exp = c.tls
            ch, sh = h.get("ch"), h.get("sh")
            print(f"    TLS: ClientHello frame {ch['frame']} sni={ch['sni'] or '-'} "
                  f"alpn offered={ch['alpn'] or '-'}; "
                  + (f"ServerHello frame {sh['frame']} alpn={sh['alpn'] or '-'} suite={sh['suite']}"
                     if sh else "no ServerHello")
                  + f" -> expect " + " ".join(f"{k}={v}" for k, v in exp.items()))


# --- rustniffer side ----------------------------------------------------------------------

def rustniffer_side(binary, cap):
    cmd = [binary, "-f", cap, "--exchanges", "messages", "-l", RUSTNIFFER_FORMAT, "-n", "-"]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"rustniffer exited with {proc.returncode}: {err[0] if err else '(no message)'}")
    records = []
    for line in proc.stdout.decode(errors="replace").splitlines():
        if not line:
            continue
        cols = line.split("\t")
        if len(cols) != len(FIELDS):
            raise RuntimeError(f"rustniffer printed a record of {len(cols)} fields, not {len(FIELDS)}: {line!r}")
        records.append(dict(zip(FIELDS, cols)))
    return records


def is_tls_record(r):
    return any(r[k] not in (NONE, "") for k in ("tls.sni", "tls.alpn", "tls.version", "tls.cipher"))


# --- comparison ---------------------------------------------------------------------------

def load_known():
    known = []
    if os.path.exists(KNOWN):
        with open(KNOWN, newline="") as f:
            for row in csv.reader(f, delimiter="\t"):
                if not row or row[0].startswith("#") or row[0] == "capture":
                    continue
                known.append(tuple((row + [""] * 5)[:5]))
    return known


def is_known(known, capture, connection, index, field):
    for k_cap, k_conn, k_index, k_field, _ in known:
        if (k_cap == capture and k_conn in ("*", str(connection)) and k_index in ("*", str(index))
                and k_field in ("*", field)):
            return True
    return False


def compare(cap, conns, records):
    """Differences: (connection number, label, index, field, tshark value, rustniffer value);
    and the count of compared exchanges that agree in every field."""
    by_conn = {}
    for r in records:
        key = (r["source.ip"], r["source.port"], r["dest.ip"], r["dest.port"])
        by_conn.setdefault(key, []).append(r)
    diffs = []
    agreeing = 0
    compared = 0
    seen = set()
    for c in conns:
        key = (c.client[0], c.client[1], c.server[0], c.server[1])
        seen.add(key)
        recs = by_conn.get(key, [])

        def index_of(r):
            try:
                return int(r["exchange.index"])
            except ValueError:
                return 0

        recs = sorted(recs, key=index_of)
        indexes = [index_of(r) for r in recs]
        if indexes != list(range(1, len(recs) + 1)):
            diffs.append((c.number, c.label, "*", "exchange.index", f"1..{len(recs)}",
                          ",".join(r["exchange.index"] for r in recs)))
        http_recs = [r for r in recs if r["request.method"] not in (NONE, "")]
        tls_recs = [r for r in recs if is_tls_record(r)]
        for i in range(max(len(c.exchanges), len(http_recs))):
            compared += 1
            e = c.exchanges[i] if i < len(c.exchanges) else None
            r = http_recs[i] if i < len(http_recs) else None
            idx = r["exchange.index"] if r else str(i + 1)
            if e is None:
                diffs.append((c.number, c.label, idx, "exchange", "(none)",
                              f"{r['request.method']} {r['request.url']} {r['response.code']}"))
                continue
            exp = expected_exchange(e)
            if r is None:
                diffs.append((c.number, c.label, idx, "exchange",
                              f"{exp['request.method']} {exp['request.url']} {exp['response.code']}",
                              "(none)"))
                continue
            ok = True
            for field, want in exp.items():
                if r[field] != want:
                    ok = False
                    diffs.append((c.number, c.label, idx, field, want, r[field]))
            agreeing += ok
        if c.tls:
            compared += 1
            _, exp = c.tls
            exp = dict(exp)
            if not c.exchanges:
                # a connection that is TLS from its first byte: h2 when the server's
                # choice of ALPN is visible (TLS 1.2; TLS 1.3 encrypts it) and is h2
                sh = c.tls[0].get("sh")
                exp_protocol = "h2" if sh and sh["alpn"] == "h2" else "tls"
            else:
                exp_protocol = None  # TLS in a CONNECT tunnel: the record's protocol is not checked
            if not tls_recs:
                diffs.append((c.number, c.label, "*", "tls", " ".join(f"{k}={v}" for k, v in exp.items()),
                              "(no record with TLS fields)"))
            else:
                # Every record of the connection carries its handshake's facts (the
                # application data records are cut into exchanges by direction turns,
                # which tshark has no notion of: their count is not compared).
                ok = True
                for r in tls_recs:
                    if exp_protocol and r["protocol"] != exp_protocol:
                        ok = False
                        diffs.append((c.number, c.label, r["exchange.index"], "protocol",
                                      exp_protocol, r["protocol"]))
                    for field in ("sni", "alpn", "version", "cipher"):
                        if r["tls." + field] != exp[field]:
                            ok = False
                            diffs.append((c.number, c.label, r["exchange.index"], "tls." + field,
                                          exp[field], r["tls." + field]))
                agreeing += ok
        extra = [r for r in recs if r not in http_recs and r not in tls_recs]
        for r in extra:
            diffs.append((c.number, c.label, r["exchange.index"], "record", "(none)",
                          f"protocol={r['protocol']} code={r['response.code']}"))
    for key, recs in by_conn.items():
        if key not in seen:
            for r in recs:
                diffs.append(("?", "{}:{}>{}:{}".format(*key), r["exchange.index"], "connection",
                              "(none)", f"protocol={r['protocol']} method={r['request.method']}"))
    return diffs, agreeing, compared


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    tshark_only = "--tshark-only" in sys.argv
    quiet = "--quiet" in sys.argv
    caps = [os.path.abspath(a) for a in args] or sorted(
        os.path.join(PCAPS, f) for f in os.listdir(PCAPS)
        # h2_*.pcap are HTTP/2, compared per stream by compare_h2.py; ws_*.pcap are the
        # WebSocket oracle's (compare_ws.py).
        if f.endswith(".pcap") and not f.startswith(("h2_", "ws_")))
    binary = os.environ.get("RUSTNIFFER", os.path.join(ROOT, "target", "ci", "rustniffer"))
    known = load_known()
    rows = []
    all_diffs = []
    failed = False
    rustniffer_error = None
    for cap in caps:
        name = os.path.basename(cap)
        try:
            conns = tshark_side(cap)
        except (RuntimeError, subprocess.TimeoutExpired, ET.ParseError, OSError) as err:
            print(f"{name}: tshark side failed: {err}")
            failed = True
            continue
        if not quiet:
            print_tshark(cap, conns)
        # HTTP exchanges and TLS handshakes (one inside a CONNECT tunnel counts on its own)
        n_tshark = sum(len(c.exchanges) + (1 if c.tls else 0) for c in conns)
        if tshark_only:
            rows.append((name, n_tshark, "", "", "", ""))
            continue
        if rustniffer_error is None:
            try:
                records = rustniffer_side(binary, cap)
            except (RuntimeError, subprocess.TimeoutExpired, OSError) as err:
                rustniffer_error = str(err)
        if rustniffer_error is not None:
            rows.append((name, n_tshark, "error", "", "", ""))
            failed = True
            continue
        diffs, agreeing, compared = compare(cap, conns, records)
        new = [d for d in diffs if not is_known(known, name, d[0], d[2], d[3])]
        rows.append((name, n_tshark, len(records), agreeing, compared - agreeing, len(diffs) - len(new)))
        for d in diffs:
            all_diffs.append((name,) + d + (d not in new,))
        if new:
            failed = True
    print()
    header = ("capture", "exchanges (tshark)", "exchanges (rustniffer)", "agreeing", "differing",
              "known differences")
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in [header] + rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip())
    if rustniffer_error is not None:
        print(f"rustniffer could not run ({binary}): {rustniffer_error}")
    if all_diffs:
        print()
        print("differences (capture, connection, index, field: tshark | rustniffer):")
        for name, num, label, idx, field, want, got, allowed in all_diffs:
            mark = " (known)" if allowed else ""
            print(f"  {name}\tconnection {num} {label}\tindex {idx}\t{field}: {want} | {got}{mark}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
