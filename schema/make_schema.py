#!/usr/bin/env python3
"""Writes schema/record.schema.json from the field table of src/output/json.rs.

    python3 schema/make_schema.py        # rewrites schema/record.schema.json

tests/json.rs checks that the committed schema is what this script writes, and
validates every JSON record of the test captures against it.
"""
import json
import pathlib
import re

root = pathlib.Path(__file__).resolve().parent.parent
source = (root / "src/output/json.rs").read_text()
fields = re.findall(r'f\("([a-z0-9_.]+)", "([a-z0-9_.]+)", Kind::(\w+)(?:\("[^"]*"\))?, Scope::(\w+)\)', source)

TEXT = {"oneOf": [{"type": "string"}, {"$ref": "#/$defs/base64"}]}
props = {
    "type": {"enum": ["exchange", "connection", "open", "finding", "service"], "description": "exchange: one request/response exchange; connection: one connection, at its end (--connections); open: an interim record of a connection still open (--open-report); finding: one finding of the diagnosis report (--report --json); service: one service table of that report"},
}
for keyword, name, kind, scope in fields:
    doc = f"%{keyword}"
    if kind == "Str":
        props[name] = dict(TEXT, description=doc)
    elif kind == "Int":
        props[name] = {"type": "integer", "minimum": 0, "description": doc}
    elif kind == "Seconds":
        props[name] = {"type": "number", "description": doc + ", in seconds"}
    elif kind == "Time":
        props[name] = {"type": "string", "format": "date-time", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", "description": doc + ", RFC 3339 UTC"}
        props[name + "_us"] = {"type": "integer", "description": doc + ", microseconds since the epoch"}
    elif kind == "Bool":
        props[name] = {"type": ["boolean", "null"], "description": doc + " (yes/no)"}
    elif kind in ("Protocol", "RequestProtocol"):
        props["network.transport"] = {"const": "tcp"}
        props["network.protocol.name"] = dict(TEXT, description="%protocol, or the request line's protocol in turns mode: http, tls, websocket, unknown")
        props["network.protocol.version"] = dict(TEXT, description="1.0, 1.1, 2")
        if kind == "Protocol":
            props["rustniffer.protocol"] = dict(TEXT, description=doc)
    elif kind == "TlsVersion":
        props["tls.protocol.name"] = {"type": "string", "description": "%tls.version's protocol: tls or ssl"}
        props["tls.protocol.version"] = {"type": "string", "description": "%tls.version's number: 1.0 ... 1.3"}
    elif kind == "Target":
        props["url.path"] = dict(TEXT, description="%request.url before '?'")
        props["url.query"] = dict(TEXT, description="%request.url after '?'")
    elif kind == "Headers":
        pass
    else:
        raise SystemExit(f"unknown kind {kind} of {keyword}")

# The diagnosis report's records (--report --json, src/output/report/json.rs).
SECONDS = {"type": "number", "minimum": 0}
def dist(value, doc):
    return {"type": "object", "additionalProperties": False, "required": ["p50", "p99", "max", "count"],
            "properties": {"p50": value, "p99": value, "max": value, "count": {"type": "integer", "minimum": 1}},
            "description": doc}
CLUSTER = {"type": "object", "additionalProperties": False, "required": ["seconds", "spread", "share"],
           "properties": {"seconds": SECONDS, "spread": SECONDS, "share": {"type": "number", "minimum": 0, "maximum": 1}}}
COUNT = {"type": "integer", "minimum": 0}
report = {
    "rustniffer.finding.kind": {"enum": ["request-on-closed-connection", "rst-storm", "intermediary-timeout", "keep-alive-not-reused", "connection-churn", "server-closes-first", "h2-not-multiplexed", "zombie-websocket", "pool-timeout"], "description": "the finding's name (the text report's [kind])"},
    "rustniffer.finding.problem": {"type": "boolean", "description": "a problem (else information: pool-timeout)"},
    "rustniffer.service": {"type": "string", "description": "the service's label: address:port (name), or other"},
    "rustniffer.service.name": {"type": "string", "description": "the service's dominant TLS SNI or HTTP Host"},
    "rustniffer.finding.message": {"type": "string", "description": "what was found, in one sentence"},
    "rustniffer.finding.cause": {"type": "string", "description": "the likely cause"},
    "rustniffer.finding.action": {"type": "string", "description": "what to do"},
    "rustniffer.finding.evidence": {"type": "array", "items": {"type": "string"}, "description": "the counts behind it, one fact each"},
    "rustniffer.finding.timeout": dict(SECONDS, description="the timeout found (pool-timeout, intermediary-timeout), seconds"),
    "rustniffer.finding.example": {"type": "object", "additionalProperties": False,
        "required": ["client.address", "client.port", "server.address", "server.port", "tcp.connection.start", "tcp.connection.start_us", "rustniffer.conn.duration", "rustniffer.conn.exchanges", "rustniffer.report.closer"],
        "properties": {
            "client.address": {"type": "string"}, "client.port": COUNT, "server.address": {"type": "string"}, "server.port": COUNT,
            "tcp.connection.start": {"type": "string", "format": "date-time"}, "tcp.connection.start_us": {"type": "integer"},
            "rustniffer.conn.duration": SECONDS, "rustniffer.conn.exchanges": COUNT, "tcp.handshake.duration": SECONDS,
            "rustniffer.conn.idle.before_close": SECONDS,
            "rustniffer.report.closer": {"enum": ["client", "server", "rst", "idle-timeout", "evicted", "still open"]},
            "tcp.close.by": {"enum": ["client", "server"]}},
        "description": "one connection as evidence: its identity and times"},
    "rustniffer.service.connections": COUNT,
    "rustniffer.service.exchanges": COUNT,
    "rustniffer.service.exchanges_per_connection": dist(COUNT, "exchanges per connection"),
    "rustniffer.service.single_exchange": dict(COUNT, description="connections that carried one exchange"),
    "rustniffer.service.keep_alive.asked": dict(COUNT, description="connections whose first request asked keep-alive"),
    "rustniffer.service.keep_alive.asked_single": dict(COUNT, description="of those, the ones that carried one exchange"),
    "rustniffer.service.closed_by": {"type": "object", "additionalProperties": False,
        "properties": {k: COUNT for k in ["client", "server", "rst", "idle-timeout", "evicted", "still open"]},
        "description": "connections by who or what ended them"},
    "rustniffer.service.handshake": dist(SECONDS, "handshake time, seconds"),
    "rustniffer.service.response": dist(SECONDS, "response time, seconds"),
    "rustniffer.service.idle_before_close.client": dist(SECONDS, "idle before close when the client closes, seconds"),
    "rustniffer.service.idle_before_close.server": dist(SECONDS, "idle before close when the server closes, seconds"),
    "rustniffer.service.idle_before_close.client.timeout": dict(CLUSTER, description="the client's idle timeout found"),
    "rustniffer.service.idle_before_close.server.timeout": dict(CLUSTER, description="the server's keep-alive timeout found"),
    "rustniffer.service.idle_before_close.client.at_once": dict(CLUSTER, description="the client closes right after its last exchange"),
    "rustniffer.service.idle_before_close.server.at_once": dict(CLUSTER, description="the server closes right after its last exchange"),
    "rustniffer.service.server_close_then_reset": COUNT,
    "rustniffer.service.unanswered_at_server_close": COUNT,
    "rustniffer.service.protocol_facts": {"type": "boolean", "description": "HTTP/2 and WebSocket figures measured (--exchanges messages)"},
    "rustniffer.service.http2.connections": COUNT,
    "rustniffer.service.http2.single_stream": COUNT,
    "rustniffer.service.http2.streams": dist(COUNT, "streams per HTTP/2 connection"),
    "rustniffer.service.http2.ping_rtt": dist(SECONDS, "HTTP/2 PING round trip, seconds"),
    "rustniffer.service.websocket.connections": COUNT,
    "rustniffer.service.websocket.silent_open": dict(COUNT, description="WebSockets silent over ws-silence, still open"),
    "rustniffer.service.websocket.silent_closed": dict(COUNT, description="WebSockets silent over ws-silence, closed after it"),
    "rustniffer.service.websocket.silence_max": dist(SECONDS, "longest WebSocket silence, seconds"),
}
for name, value in report.items():
    assert name not in props, name
    props[name] = value

schema = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://github.com/rustniffer/rustniffer/schema/record.schema.json",
    "title": "rustniffer --json record",
    "description": "One line of `rustniffer --json`. Names follow the OpenTelemetry semantic conventions where one exists; tcp.* and rustniffer.* elsewhere (docs/json.md). A value that is not found is absent.",
    "type": "object",
    "required": ["type"],
    "properties": props,
    "patternProperties": {
        r"^http\.(request|response)\.header\.[-!#$%&'*+.^_`|~0-9a-z]+$": {
            "type": "array",
            "items": {"oneOf": [{"type": "string"}, {"$ref": "#/$defs/base64"}]},
            "description": "every value of one header, by lower-case name",
        }
    },
    "additionalProperties": False,
    "allOf": [
        {"if": {"properties": {"type": {"const": "finding"}}},
         "then": {"required": ["rustniffer.finding.kind", "rustniffer.finding.problem", "rustniffer.service", "rustniffer.finding.message", "rustniffer.finding.cause", "rustniffer.finding.action", "rustniffer.finding.evidence"]}},
        {"if": {"properties": {"type": {"const": "service"}}},
         "then": {"required": ["rustniffer.service", "rustniffer.service.connections", "rustniffer.service.exchanges", "rustniffer.service.closed_by", "rustniffer.service.protocol_facts"]}},
    ],
    "$defs": {
        "base64": {
            "type": "object",
            "required": ["base64"],
            "additionalProperties": False,
            "properties": {"base64": {"type": "string", "pattern": "^[A-Za-z0-9+/]*={0,2}$"}},
            "description": "bytes that are not UTF-8, base64 (standard alphabet, padded)",
        }
    },
}
(root / "schema/record.schema.json").write_text(json.dumps(schema, indent=2, sort_keys=False) + "\n")
