"""Parses `northstar export --format otlp` strictly with OpenTelemetry's protobuf definitions
(the opentelemetry-proto package): each line is an ExportTraceServiceRequest,
ExportMetricsServiceRequest or ExportLogsServiceRequest (by its top-level key), and unknown
fields or wrongly typed values fail. Checks that every stored event is there exactly once, on
its signal: operations as spans (plus one span per ended session, their parent), perf samples
as metric points, the rest as log records; ids are hex of the right length. User-defined
events: tracing spans (begin, later values, end) as one span each, with its parent span in the
export; tracing events as log records; other user events as one metric point per numeric field
(`<name>.<field>`, the stored value, integers as asInt) plus a log record when they have text
fields or no numeric one.
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

STANDARD = {"agent_session_started", "agent_session_ended", "agent_operation", "review_note",
            "review_summary", "perf_sample", "perf_regression", "debug_session", "debug_snapshot",
            "vcs_commit", "vcs_branch"}
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


def attr_list(attrs, key):
    for kv in attrs:
        if kv.key == key:
            return [x.int_value for x in kv.value.array_value.values]
    return []


signal_of = {}  # event id -> signal
user_points = collections.defaultdict(dict)  # user event id -> {metric name: value}
user_logs = set()  # user event ids with a log record
span_ids, parents, session_spans, tracing_spans = set(), [], 0, 0
tracing_parents = []


def mark(eid, signal, where):
    if eid in seen:
        sys.exit(f"{where}: event {eid} twice")
    seen.add(eid)
    signal_of[eid] = signal
requests = collections.defaultdict(list)


def take(kind, msg, where):
    global session_spans, tracing_spans
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
                    end = attr(sp.attributes, "northstar.end_event_id")
                    if end is not None:
                        # A tracing span: its begin, later values and end records.
                        tracing_spans += 1
                        for x in [eid, end] + attr_list(sp.attributes, "northstar.record_event_ids"):
                            if x is not None:
                                mark(x, "traces", where)
                        tracing_parents.append(sp.parent_span_id)
                        continue
                    if eid is None:
                        session_spans += 1
                        continue
                    if attr(sp.attributes, "level") is not None and attr(sp.attributes, "target") is not None:
                        # A tracing span whose end was not exported (still open).
                        tracing_spans += 1
                        mark(eid, "traces", where)
                        tracing_parents.append(sp.parent_span_id)
                        continue
                    parents.append(sp.parent_span_id)
                    mark(eid, "traces", where)
    elif kind == "metrics":
        for r in msg.resource_metrics:
            for s in r.scope_metrics:
                for m in s.metrics:
                    for p in m.gauge.data_points:
                        eid = attr(p.attributes, "northstar.event_id")
                        if attr(p.attributes, "event.name") is not None:
                            # A user event's numeric field.
                            if m.name in user_points[eid]:
                                sys.exit(f"{where}: field {m.name} of event {eid} twice")
                            v = p.as_int if p.HasField("as_int") else p.as_double
                            user_points[eid][m.name] = v
                            continue
                        mark(eid, "metrics", where)
    else:
        for r in msg.resource_logs:
            for s in r.scope_logs:
                for rec in s.log_records:
                    eid = attr(rec.attributes, "northstar.event_id")
                    if not rec.body.HasField("kvlist_value"):
                        sys.exit(f"{where}: log record without a structured body")
                    if eid in user_points or eid in user_logs:
                        if eid in user_logs:
                            sys.exit(f"{where}: event {eid} twice")
                    if attr(rec.attributes, "northstar.event_code") == 224:
                        user_logs.add(eid)
                        if eid in seen:
                            sys.exit(f"{where}: event {eid} twice")
                        continue
                    mark(eid, "logs", where)

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
# User events on metrics and logs (they may be on both).
for eid in list(user_points) + list(user_logs):
    if eid in seen and signal_of.get(eid) in ("traces",):
        sys.exit(f"{path}: event {eid} both as a span and as a point or record")
    if eid in user_logs and eid in user_points:
        signal_of[eid] = "metrics+logs"
    elif eid in user_points:
        signal_of[eid] = "metrics"
    elif eid not in seen:
        signal_of[eid] = "logs"
    seen.add(eid)
if len(seen) != expected:
    sys.exit(f"{path}: {len(seen)} events, expected {expected}")
orphans = sum(1 for p in parents if p not in span_ids)
bad_parents = [p for p in tracing_parents if p and p not in span_ids]
if bad_parents:
    sys.exit(f"{path}: {len(bad_parents)} tracing spans whose parent span is not in the export")

if events_path:
    want = {}
    TRACING = {"event": "logs", "span_begin": "traces", "span_record": "traces", "span_end": "traces"}
    checked_values = 0
    with open(events_path) as f:
        for line in f:
            e = json.loads(line)
            t = e["event_type"]
            p = e["payload"]
            if e.get("event_code", 0) == 224 or t not in STANDARD:
                kind = p.get("kind")
                if kind in TRACING and "level" in p and "target" in p:
                    want[e["event_id"]] = TRACING[kind]
                    continue
                numeric = {k: v for k, v in p.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
                got = user_points.get(e["event_id"], {})
                if set(got) != {f"{t}.{k}" for k in numeric}:
                    sys.exit(f"{path}: user event {e['event_id']} ({t}): metric points {sorted(got)}, fields {sorted(numeric)}")
                for k, v in numeric.items():
                    if got[f"{t}.{k}"] != v:
                        sys.exit(f"{path}: user event {e['event_id']} field {k}: {got[f'{t}.{k}']!r} != stored {v!r}")
                    checked_values += 1
                has_text = any(not isinstance(v, (int, float)) or isinstance(v, bool) for v in p.values())
                if not numeric:
                    want[e["event_id"]] = "logs"
                elif e["event_id"] in user_logs:
                    if not has_text:
                        sys.exit(f"{path}: user event {e['event_id']} has only numbers but a log record")
                    want[e["event_id"]] = "metrics+logs"
                else:
                    want[e["event_id"]] = "metrics"
            elif t == "agent_operation" and p.get("duration_ns") is not None:
                want[e["event_id"]] = "traces"
            elif t == "perf_sample":
                want[e["event_id"]] = "metrics"
            else:
                want[e["event_id"]] = "logs"
    if want != signal_of:
        wrong = [(k, want[k], signal_of.get(k)) for k in want if signal_of.get(k) != want[k]][:5]
        sys.exit(f"{path}: events on the wrong signal or missing, e.g. {wrong}")
    print(f"OTLP export: {checked_values} user-event field values match the store")

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
print(f"OTLP export: {len(seen)} events parse strictly as OTLP requests: {counts['traces']} events as spans "
      f"(+{session_spans} session spans; {orphans} spans whose session did not end in the export; "
      f"{tracing_spans} tracing spans), {counts['metrics']} on metric points, {counts['logs']} on log records, "
      f"{counts['metrics+logs']} user events on both, {sum(len(v) for v in user_points.values())} user-field points"
      + ("; the protobuf files hold the same requests" if proto_prefix else ""))
