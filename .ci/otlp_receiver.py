"""A local OTLP/HTTP receiver for the ship test: decodes every request with OpenTelemetry's
own protobuf definitions (opentelemetry-proto) and injects the faults a collector may answer
with, by request number: a 503 with Retry-After, a 429, a partial success, a dropped
connection. Every acknowledged request's event ids are appended to a log (one JSON line per
request), so the test can check that every event arrived and count duplicates.
Usage: otlp_receiver.py PORT_FILE LOG_FILE [DELAY_SECONDS]"""
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as ls
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

port_file, log_file = sys.argv[1], sys.argv[2]
delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
KINDS = {
    "/v1/traces": (ts.ExportTraceServiceRequest, ts.ExportTraceServiceResponse),
    "/v1/metrics": (ms.ExportMetricsServiceRequest, ms.ExportMetricsServiceResponse),
    "/v1/logs": (ls.ExportLogsServiceRequest, ls.ExportLogsServiceResponse),
}
# Request number (1-based, over all requests) -> the fault injected instead of a plain 200.
FAULTS = {2: "503", 4: "429", 6: "partial", 8: "drop"}
lock = threading.Lock()
state = {"n": 0}


def event_ids(path, req):
    ids = []

    def eid(attrs):
        for kv in attrs:
            if kv.key == "northstar.event_id":
                return kv.value.int_value
        return None

    if path == "/v1/traces":
        for r in req.resource_spans:
            for s in r.scope_spans:
                for sp in s.spans:
                    if len(sp.trace_id) != 16 or len(sp.span_id) != 8:
                        raise ValueError("bad span ids")
                    i = eid(sp.attributes)
                    if i is not None:
                        ids.append(i)
                    # A tracing span also carries its end and later-values records.
                    for kv in sp.attributes:
                        if kv.key == "northstar.end_event_id":
                            ids.append(kv.value.int_value)
                        elif kv.key == "northstar.record_event_ids":
                            ids.extend(x.int_value for x in kv.value.array_value.values)
    elif path == "/v1/metrics":
        for r in req.resource_metrics:
            for s in r.scope_metrics:
                for m in s.metrics:
                    for p in m.gauge.data_points:
                        ids.append(eid(p.attributes))
    else:
        for r in req.resource_logs:
            for s in r.scope_logs:
                for rec in s.log_records:
                    ids.append(eid(rec.attributes))
    return ids


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, code, body=b"", headers=()):
        self.send_response(code)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the shipper was killed while waiting for this answer

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path not in KINDS:
            return self.answer(404)
        if self.headers.get("Content-Type") != "application/x-protobuf":
            return self.answer(415)
        req_cls, resp_cls = KINDS[self.path]
        req = req_cls()
        try:
            req.ParseFromString(body)
            ids = event_ids(self.path, req)
        except Exception as e:  # a request that does not decode is the shipper's bug
            with open(log_file, "a") as f:
                f.write(json.dumps({"error": f"{self.path}: {e}"}) + "\n")
            return self.answer(400, str(e).encode())
        with lock:
            state["n"] += 1
            n = state["n"]
        fault = FAULTS.get(n)
        if delay:
            time.sleep(delay)
        if fault == "503":
            return self.answer(503, headers=[("Retry-After", "1")])
        if fault == "429":
            return self.answer(429)
        if fault == "drop":
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        resp = resp_cls()
        if fault == "partial":
            ps = resp.partial_success
            if self.path == "/v1/traces":
                ps.rejected_spans = 1
            elif self.path == "/v1/metrics":
                ps.rejected_data_points = 1
            else:
                ps.rejected_log_records = 1
            ps.error_message = "injected partial success"
        with lock, open(log_file, "a") as f:
            f.write(json.dumps({"n": n, "path": self.path, "ids": ids, "fault": fault}) + "\n")
        self.answer(200, resp.SerializeToString())


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os  # noqa: E402

os.rename(port_file + ".tmp", port_file)
server.serve_forever()
