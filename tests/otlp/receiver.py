"""An OTLP/HTTP receiver for the test suite (tests/otlp.rs): decodes each
ExportLogsServiceRequest and ExportMetricsServiceRequest with the official
opentelemetry-proto package and appends what it got, one JSON object per request, to
OUT. Every attribute is written as [type, value] so that the test checks types too.

    receiver.py PORT OUT [ok | fail:N | hang]

ok answers 200; fail:N answers 503 to the first N requests of each path, then 200;
hang accepts connections and never answers (each for at most 60 s). Prints
"listening" once bound."""

import base64
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

PORT = int(sys.argv[1])
OUT = sys.argv[2]
MODE = sys.argv[3] if len(sys.argv) > 3 else "ok"
LOCK = threading.Lock()
SEEN = {}


def value(v):
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return ["string", v.string_value]
    if kind == "int_value":
        return ["int", v.int_value]
    if kind == "double_value":
        return ["double", v.double_value]
    if kind == "bool_value":
        return ["bool", v.bool_value]
    if kind == "bytes_value":
        return ["bytes", base64.b64encode(v.bytes_value).decode()]
    if kind == "array_value":
        return ["array", [value(x) for x in v.array_value.values]]
    if kind == "kvlist_value":
        return ["kvlist", attributes(v.kvlist_value.values)]
    return ["empty", None]


def attributes(kvs):
    return {kv.key: value(kv.value) for kv in kvs}


def logs(body):
    request = ExportLogsServiceRequest()
    request.ParseFromString(body)
    out = []
    for rl in request.resource_logs:
        for sl in rl.scope_logs:
            for r in sl.log_records:
                out.append({
                    "resource": attributes(rl.resource.attributes),
                    "scope": sl.scope.name,
                    "time_unix_nano": r.time_unix_nano,
                    "observed_time_unix_nano": r.observed_time_unix_nano,
                    "severity_number": r.severity_number,
                    "severity_text": r.severity_text,
                    "event_name": r.event_name,
                    "body": value(r.body),
                    "attributes": attributes(r.attributes),
                })
    return {"logs": out}


def points(metric):
    kind = metric.WhichOneof("data")
    if kind == "sum":
        return kind, metric.sum.is_monotonic, [
            {"attributes": attributes(p.attributes),
             "value": p.as_int if p.WhichOneof("value") == "as_int" else p.as_double}
            for p in metric.sum.data_points
        ]
    if kind == "gauge":
        return kind, False, [
            {"attributes": attributes(p.attributes),
             "value": p.as_int if p.WhichOneof("value") == "as_int" else p.as_double}
            for p in metric.gauge.data_points
        ]
    if kind == "histogram":
        return kind, False, [
            {"attributes": attributes(p.attributes), "count": p.count, "sum": p.sum,
             "bounds": list(p.explicit_bounds), "buckets": list(p.bucket_counts)}
            for p in metric.histogram.data_points
        ]
    return kind, False, []


def metrics(body):
    request = ExportMetricsServiceRequest()
    request.ParseFromString(body)
    out = []
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind, monotonic, data = points(m)
                out.append({
                    "resource": attributes(rm.resource.attributes),
                    "scope": sm.scope.name,
                    "name": m.name,
                    "unit": m.unit,
                    "kind": kind,
                    "monotonic": monotonic,
                    "points": data,
                })
    return {"metrics": out}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        if MODE == "hang":
            time.sleep(60)
            return
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with LOCK:
            SEEN[self.path] = SEEN.get(self.path, 0) + 1
            n = SEEN[self.path]
        record = {"path": self.path, "content_type": self.headers.get("Content-Type")}
        if MODE.startswith("fail:") and n <= int(MODE[5:]):
            record["status"] = 503
            self.answer(503, b"")
        elif self.path == "/v1/logs":
            record.update(logs(body))
            record["status"] = 200
            self.answer(200, ExportLogsServiceResponse().SerializeToString())
        elif self.path == "/v1/metrics":
            record.update(metrics(body))
            record["status"] = 200
            self.answer(200, ExportMetricsServiceResponse().SerializeToString())
        else:
            record["status"] = 404
            self.answer(404, b"")
        with LOCK, open(OUT, "a") as f:
            f.write(json.dumps(record) + "\n")

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
server.daemon_threads = True
print("listening", flush=True)
server.serve_forever()
