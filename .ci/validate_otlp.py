"""Parses `northstar export --format otlp` strictly with OpenTelemetry's protobuf definitions
(the opentelemetry-proto package): each line is an ExportTraceServiceRequest,
ExportMetricsServiceRequest or ExportLogsServiceRequest (by its top-level key), and unknown
fields or wrongly typed values fail. Checks that every stored event is there exactly once, on
its signal: operations as spans (plus one span per ended session, their parent), perf samples
as metric points, the rest as log records; ids are hex of the right length.
Usage: validate_otlp.py FILE EXPECTED_EVENTS [EVENTS_JSONL [PROTO_PREFIX]]
- EVENTS_JSONL (`northstar query --format json`): also check each event's signal;
- PROTO_PREFIX (`export --format otlp-proto --out PREFIX`): the protobuf files must hold the
  same requests as the JSON file."""
import base64
import collections
import json
import sys

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

KINDS = {
    "resourceSpans": ("traces", ExportTraceServiceRequest),
    "resourceMetrics": ("metrics", ExportMetricsServiceRequest),
    "resourceLogs": ("logs", ExportLogsServiceRequest),
}
path, expected = sys.argv[1], int(sys.argv[2])
events_path = sys.argv[3] if len(sys.argv) > 3 else None
proto_prefix = sys.argv[4] if len(sys.argv) > 4 else None


def attr(attrs, key):
    for kv in attrs:
        if kv.key == key:
            v = kv.value
            return v.int_value if v.HasField("int_value") else v.string_value
    return None


signal_of = {}  # event id -> signal
span_ids, parents, session_spans = set(), [], 0
requests = collections.defaultdict(list)


def take(kind, msg, where):
    global session_spans
    requests[kind].append(msg.SerializeToString(deterministic=True))
    if kind == "traces":
        for r in msg.resource_spans:
            for s in r.scope_spans:
                for sp in s.spans:
                    if len(sp.trace_id) != 16 or len(sp.span_id) != 8:
                        sys.exit(f"{where}: span ids of the wrong length")
                    if sp.end_time_unix_nano < sp.start_time_unix_nano:
                        sys.exit(f"{where}: span ends before it starts")
                    span_ids.add(sp.span_id)
                    eid = attr(sp.attributes, "northstar.event_id")
                    if eid is None:
                        session_spans += 1
                        continue
                    parents.append(sp.parent_span_id)
                    if signal_of.setdefault(eid, "traces") != "traces" or eid in seen:
                        sys.exit(f"{where}: event {eid} twice")
                    seen.add(eid)
    elif kind == "metrics":
        for r in msg.resource_metrics:
            for s in r.scope_metrics:
                for m in s.metrics:
                    for p in m.gauge.data_points:
                        eid = attr(p.attributes, "northstar.event_id")
                        if eid in seen:
                            sys.exit(f"{where}: event {eid} twice")
                        seen.add(eid)
                        signal_of[eid] = "metrics"
    else:
        for r in msg.resource_logs:
            for s in r.scope_logs:
                for rec in s.log_records:
                    eid = attr(rec.attributes, "northstar.event_id")
                    if eid in seen:
                        sys.exit(f"{where}: event {eid} twice")
                    seen.add(eid)
                    signal_of[eid] = "logs"
                    if not rec.body.HasField("kvlist_value"):
                        sys.exit(f"{where}: log record without a structured body")


INT64 = {"intValue", "timeUnixNano", "startTimeUnixNano", "endTimeUnixNano", "observedTimeUnixNano"}
ID_LEN = {"traceId": 32, "spanId": 16, "parentSpanId": 16}


def hex_ids(v, where):
    """OTLP/JSON writes trace and span ids as hex, where proto3's JSON mapping has base64: check
    the hex and hand json_format the base64 it expects."""
    if isinstance(v, list):
        for x in v:
            hex_ids(x, where)
    elif isinstance(v, dict):
        for k, x in v.items():
            if k in ID_LEN and isinstance(x, str):
                if len(x) != ID_LEN[k] or x != x.lower() or any(c not in "0123456789abcdef" for c in x):
                    sys.exit(f"{where}: {k} {x!r} is not {ID_LEN[k]} lowercase hex digits")
                v[k] = base64.b64encode(bytes.fromhex(x)).decode()
            elif k in INT64 and not isinstance(x, str):
                sys.exit(f"{where}: {k} {x!r} is a 64-bit integer, OTLP/JSON writes it as a string")
            else:
                hex_ids(x, where)


seen = set()
with open(path) as f:
    for n, line in enumerate(f, 1):
        doc = json.loads(line)
        key = next(iter(doc), None)
        if key not in KINDS:
            sys.exit(f"{path}:{n}: not an OTLP request (top-level key {key!r})")
        kind, cls = KINDS[key]
        hex_ids(doc, f"{path}:{n}")
        try:
            msg = json_format.ParseDict(doc, cls())
        except json_format.ParseError as e:
            sys.exit(f"{path}:{n}: not an OTLP {cls.__name__}: {e}")
        take(kind, msg, f"{path}:{n}")
if len(seen) != expected:
    sys.exit(f"{path}: {len(seen)} events, expected {expected}")
orphans = sum(1 for p in parents if p not in span_ids)

if events_path:
    want = {}
    with open(events_path) as f:
        for line in f:
            e = json.loads(line)
            t = e["event_type"]
            if t == "agent_operation" and e["payload"].get("duration_ns") is not None:
                want[e["event_id"]] = "traces"
            elif t == "perf_sample":
                want[e["event_id"]] = "metrics"
            else:
                want[e["event_id"]] = "logs"
    if want != signal_of:
        wrong = [k for k in want if signal_of.get(k) != want[k]][:5]
        sys.exit(f"{path}: events on the wrong signal or missing, e.g. {wrong}")

if proto_prefix:
    for kind, (cls) in (("traces", ExportTraceServiceRequest), ("metrics", ExportMetricsServiceRequest), ("logs", ExportLogsServiceRequest)):
        data = open(f"{proto_prefix}.{kind}.pb", "rb").read()
        pos, got = 0, []
        while pos < len(data):
            length, shift = 0, 0
            while True:
                b = data[pos]
                pos += 1
                length |= (b & 0x7F) << shift
                shift += 7
                if b < 0x80:
                    break
            msg = cls()
            msg.ParseFromString(data[pos:pos + length])
            pos += length
            got.append(msg.SerializeToString(deterministic=True))
        if got != requests[kind]:
            sys.exit(f"{proto_prefix}.{kind}.pb: {len(got)} requests that differ from the JSON export's {len(requests[kind])}")

counts = collections.Counter(signal_of.values())
print(f"OTLP export: {len(seen)} events parse strictly as OTLP requests: {counts['traces']} spans "
      f"(+{session_spans} session spans; {orphans} spans whose session did not end in the export), "
      f"{counts['metrics']} metric points, {counts['logs']} log records"
      + ("; the protobuf files hold the same requests" if proto_prefix else ""))
