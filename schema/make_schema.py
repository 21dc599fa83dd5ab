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
    "type": {"enum": ["exchange", "connection", "open"], "description": "exchange: one request/response exchange; connection: one connection, at its end (--connections); open: an interim record of a connection still open (--open-report)"},
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
