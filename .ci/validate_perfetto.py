"""Checks `northstar export --format perfetto` strictly with Perfetto's own protobuf definitions
(`perfetto_trace_pb2` from the `perfetto` package on PyPI) against the store's own events (the
JSON lines of `northstar query --format json`):
- the file parses as a Trace and no message carries a field Perfetto does not define;
- one writer sequence; its first event packet clears the incremental state, every event packet
  needs it, and every interned name it references was defined before on the sequence;
- every track used is described, under the store's process;
- per track, sorted as the trace processor sorts (time, then file order), every slice begin has
  its end on the same track, properly nested; the slices are exactly the stored operations
  (count, names, and durations to the nanosecond);
- the counter values are exactly the stored perf samples (metric, dimensions, value);
- every other event is one instant;
- user-defined events: tracing spans (begin/end records paired by span id) are slices on their
  thread's track lasting exactly from the begin record to the end record, nested; every other
  user event (and tracing event) is an instant named by it whose debug annotations hold its
  stored field values (typed: integers, floats, bools, strings).
Usage: validate_perfetto.py TRACE EVENTS_JSONL"""
import collections
import json
import sys

from google.protobuf import unknown_fields
from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb

trace_path, events_path = sys.argv[1], sys.argv[2]
TE = pb.TrackEvent
CLEARED, NEEDS = 1, 2


def fail(msg):
    sys.exit(f"{trace_path}: {msg}")


def no_unknown(msg, where):
    if len(unknown_fields.UnknownFieldSet(msg)):
        fail(f"{where}: fields Perfetto does not define in {msg.DESCRIPTOR.full_name}")
    for field, value in msg.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        repeated = getattr(field, "is_repeated", None)
        if repeated is None:
            repeated = field.label == field.LABEL_REPEATED
        for v in value if repeated else [value]:
            no_unknown(v, where)


trace = pb.Trace()
with open(trace_path, "rb") as f:
    trace.ParseFromString(f.read())

# Expected, from the store.
ops, samples, others = [], collections.Counter(), 0
STANDARD = {"agent_session_started", "agent_session_ended", "agent_operation", "review_note",
            "review_summary", "perf_sample", "perf_regression", "debug_session", "debug_snapshot",
            "vcs_commit", "vcs_branch"}
user_payloads = {}  # event id -> (name, payload) of user events shown as instants
span_dur = {}  # begin event id -> expected slice duration
open_spans = {}  # (actor, tracing span id) -> (begin event id, ts)
with open(events_path) as f:
    for line in f:
        e = json.loads(line)
        p = e["payload"]
        if e["event_type"] not in STANDARD:
            kind = p.get("kind") if "level" in p and "target" in p else None
            if kind == "span_begin":
                open_spans[(e["actor_id"], p["span_id"])] = (e["event_id"], e["timestamp"])
            elif kind == "span_record" and (e["actor_id"], p["span_id"]) in open_spans:
                pass
            elif kind == "span_end":
                b = open_spans.pop((e["actor_id"], p["span_id"]), None)
                if b:
                    span_dur[b[0]] = e["timestamp"] - b[1]
                    ops.append((e["event_type"], e["timestamp"] - b[1]))
                else:
                    ops.append((e["event_type"], p["duration"]))
            else:
                user_payloads[e["event_id"]] = (e["event_type"], p)
                others += 1
            continue
        if e["event_type"] == "agent_operation" and p.get("duration_ns") is not None:
            ops.append((p["operation_type"], p["duration_ns"]))
        elif e["event_type"] == "perf_sample":
            dims = ",".join(f"{k}={v}" for k, v in p["dimensions"].items())
            name = p["metric_name"] + (f" {{{dims}}}" if dims else "")
            samples[(name, p["value"])] += 1
        else:
            others += 1

tracks, names, cats, ann = {}, {}, {}, {}
process_uuids = set()
events = collections.defaultdict(list)  # track uuid -> [(ts, order, type, name, duration_ns)]
counters = collections.Counter()
for b_id, ts in open_spans.values():
    span_dur[b_id] = 0
    ops.append(("?", 0))
instants = 0
user_checked = 0
seen_event_packet = False
for i, p in enumerate(trace.packet):
    no_unknown(p, f"packet {i}")
    if p.HasField("track_descriptor"):
        d = p.track_descriptor
        if d.HasField("process"):
            process_uuids.add(d.uuid)
        tracks[d.uuid] = d
        continue
    if not p.HasField("track_event"):
        continue
    if p.trusted_packet_sequence_id != 1:
        fail(f"packet {i}: sequence {p.trusted_packet_sequence_id}, expected one sequence (1)")
    if not seen_event_packet and not p.sequence_flags & CLEARED:
        fail(f"packet {i}: the first event packet does not clear the incremental state")
    if not p.sequence_flags & NEEDS:
        fail(f"packet {i}: an event packet without SEQ_NEEDS_INCREMENTAL_STATE")
    seen_event_packet = True
    if p.sequence_flags & CLEARED:
        names, cats, ann = {}, {}, {}
    for e in p.interned_data.event_names:
        names[e.iid] = e.name
    for e in p.interned_data.event_categories:
        cats[e.iid] = e.name
    for e in p.interned_data.debug_annotation_names:
        ann[e.iid] = e.name
    te = p.track_event
    if te.track_uuid not in tracks:
        fail(f"packet {i}: track {te.track_uuid} used before it is described")
    if te.HasField("name_iid") and te.name_iid not in names:
        fail(f"packet {i}: event name iid {te.name_iid} not interned on the sequence")
    for c in te.category_iids:
        if c not in cats:
            fail(f"packet {i}: category iid {c} not interned on the sequence")
    fields = {}
    for a in te.debug_annotations:
        if a.name_iid not in ann:
            fail(f"packet {i}: annotation name iid {a.name_iid} not interned")
        fields[ann[a.name_iid]] = a
    if te.type == TE.TYPE_COUNTER:
        counters[(tracks[te.track_uuid].name, te.double_counter_value)] += 1
        if not tracks[te.track_uuid].HasField("counter"):
            fail(f"packet {i}: a counter value on a track without a CounterDescriptor")
    elif te.type == TE.TYPE_INSTANT:
        instants += 1
        if "event_id" not in fields and "dropped" not in fields:
            fail(f"packet {i}: an instant without its fields as debug annotations")
        if "event_id" in fields and fields["event_id"].uint_value in user_payloads:
            uname, up = user_payloads[fields["event_id"].uint_value]
            if names.get(te.name_iid) != uname:
                fail(f"packet {i}: user event instant named {names.get(te.name_iid)!r}, stored {uname!r}")
            for k, v in up.items():
                a = fields.get(k)
                if v is None:
                    continue
                if a is None:
                    fail(f"packet {i}: user event {uname} without its field {k}")
                if isinstance(v, bool):
                    got = a.bool_value
                elif isinstance(v, int):
                    got = a.uint_value if a.HasField("uint_value") else a.int_value
                elif isinstance(v, float):
                    got = a.double_value
                else:
                    got = a.string_value
                if got != v:
                    fail(f"packet {i}: user event {uname} field {k}: {got!r}, stored {v!r}")
                user_checked += 1
    elif te.type in (TE.TYPE_SLICE_BEGIN, TE.TYPE_SLICE_END):
        dur = fields["duration_ns"].int_value if "duration_ns" in fields else None
        name = names.get(te.name_iid)
        if dur is None and "level" in fields:
            # A tracing span: from its begin record to its end record.
            if "event_id" in fields:
                dur = span_dur.get(fields["event_id"].uint_value)
            elif "end_event_id" in fields:
                dur = None  # begin not exported: checked by name and its own duration below
            if "open" in fields:
                name = "?"
        events[te.track_uuid].append((p.timestamp, i, te.type, name, dur))
    else:
        fail(f"packet {i}: unexpected track event type {te.type}")

for uuid, d in tracks.items():
    if uuid in process_uuids:
        continue
    if d.parent_uuid not in process_uuids:
        fail(f"track {d.name!r} is not under the store's process")

slices = []
for uuid, evs in events.items():
    evs.sort(key=lambda e: (e[0], e[1]))
    stack = []
    for ts, i, typ, name, dur in evs:
        if typ == TE.TYPE_SLICE_BEGIN:
            stack.append((ts, name, dur, i))
        else:
            if not stack:
                fail(f"track {tracks[uuid].name!r}: slice end at {ts} (packet {i}) with no open slice")
            b_ts, b_name, b_dur, b_i = stack.pop()
            if b_dur is None:
                b_dur = ts - b_ts
            if ts - b_ts != b_dur:
                fail(f"track {tracks[uuid].name!r}: slice {b_name!r} (packet {b_i}) lasts {ts - b_ts} ns, its operation {b_dur} ns (misnested?)")
            slices.append((b_name, b_dur))
    if stack:
        fail(f"track {tracks[uuid].name!r}: {len(stack)} slices never end")

if collections.Counter(slices) != collections.Counter(ops):
    fail(f"{len(slices)} slices, {len(ops)} stored operations: names or durations differ")
if counters != samples:
    fail(f"{sum(counters.values())} counter values, {sum(samples.values())} stored perf samples: they differ")
drops = sum(1 for uuid, d in tracks.items() if d.name == "dropped events")
if instants < others:
    fail(f"{instants} instants, {others} other stored events")
print(f"Perfetto trace: {len(trace.packet)} packets parse with Perfetto's definitions; "
      f"{len(slices)} slices = stored operations (durations exact, nesting intact) on "
      f"{len(events)} tracks, {sum(counters.values())} counter values = stored perf samples, "
      f"{instants} instants ({user_checked} user-event field values match the store)")
