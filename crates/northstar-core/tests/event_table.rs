//! The generated event lists agree with the events reference (docs/EVENTS.md): codes, names,
//! actor names and field names, so the one definition in `events.rs` and the docs cannot drift.

use northstar_core::visit::Kind;
use northstar_core::EventType;

const EVENTS_MD: &str = include_str!("../../../docs/EVENTS.md");

/// The `| `0x1000` | `agent_session_started` | ... |` rows of the reference's type table.
fn table() -> Vec<(u16, String)> {
    EVENTS_MD
        .lines()
        .filter_map(|l| {
            let mut cells = l.split('|').map(str::trim).skip(1);
            let code = cells.next()?.strip_prefix("`0x")?.strip_suffix('`')?;
            let name = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
            Some((u16::from_str_radix(code, 16).ok()?, name.to_string()))
        })
        .collect()
}

/// The reference's paragraph about one type: from `**`name` (0x....)**:` to the blank line.
fn paragraph(t: EventType) -> String {
    let head = format!("**`{}` (0x{:04x})**:", t.name(), t.code());
    let at = EVENTS_MD
        .find(&head)
        .unwrap_or_else(|| panic!("docs/EVENTS.md has no paragraph {head}"));
    let rest = &EVENTS_MD[at + head.len()..];
    rest[..rest.find("\n\n").unwrap_or(rest.len())].replace('\n', " ")
}

#[test]
fn codes_and_names_match_the_reference_table() {
    let docs = table();
    let generated: Vec<(u16, String)> = EventType::ALL
        .iter()
        .map(|t| (t.code(), t.name().to_string()))
        .collect();
    assert_eq!(generated, docs);
    assert_eq!(EventType::COUNT, docs.len());
    for (i, t) in EventType::ALL.into_iter().enumerate() {
        assert_eq!(t.index(), i);
        assert_eq!(EventType::from_code(t.code()), Some(t));
        assert_eq!(EventType::from_compact(t.compact()), Some(t));
        assert_eq!(EventType::from_name(t.name()), Some(t));
    }
}

#[test]
fn actors_and_fields_match_the_reference_paragraphs() {
    for t in EventType::ALL {
        let p = paragraph(t);
        match t.payload_actor_name() {
            Some(a) => assert!(
                p.contains(&format!("`{a}` (actor)")),
                "{t}: docs do not name the actor {a}: {p}"
            ),
            None => assert!(!p.contains("(actor)"), "{t}: docs name an actor: {p}"),
        }
        // Every field, in order, is named at the top level of the paragraph.
        let mut from = 0;
        for f in t.fields() {
            let key = format!("`{}", f.name);
            let found = p[from..]
                .match_indices(&key)
                .map(|(i, _)| from + i)
                .find(|&i| {
                    let next = p[i + key.len()..].chars().next();
                    matches!(next, Some(':') | Some('`'))
                });
            let Some(i) = found else {
                panic!("{t}: field {} missing or out of order in docs: {p}", f.name)
            };
            from = i + key.len();
        }
    }
}

#[test]
fn session_metadata_follows_the_fields() {
    for t in EventType::ALL {
        let own = t
            .fields()
            .iter()
            .any(|f| f.name == "session_id" && f.kind == Kind::U64);
        assert_eq!(t.has_session_id(), own, "{t}");
    }
    let with_sessions: Vec<_> = EventType::ALL
        .into_iter()
        .filter(|t| t.has_sessions())
        .map(EventType::name)
        .collect();
    assert_eq!(
        with_sessions,
        [
            "agent_session_started",
            "agent_session_ended",
            "agent_operation",
            "perf_sample",
            "debug_session",
            "debug_snapshot"
        ]
    );
    let agent: Vec<_> = EventType::ALL
        .into_iter()
        .filter(|t| t.actor_is_agent())
        .map(EventType::name)
        .collect();
    assert_eq!(
        agent,
        [
            "agent_session_started",
            "agent_session_ended",
            "agent_operation"
        ]
    );
}

/// Writes every visit call as text.
#[derive(Default)]
struct Trace(Vec<String>);

impl<'a> northstar_core::Visit<'a> for Trace {
    fn visit_u64(&mut self, name: &str, v: u64) {
        self.0.push(format!("{name}=u{v}"));
    }
    fn visit_i64(&mut self, name: &str, v: i64) {
        self.0.push(format!("{name}=i{v}"));
    }
    fn visit_f64(&mut self, name: &str, v: f64) {
        self.0.push(format!("{name}=f{v}"));
    }
    fn visit_str(&mut self, name: &str, v: &'a str) {
        self.0.push(format!("{name}={v:?}"));
    }
    fn visit_absent(&mut self, name: &str) {
        self.0.push(format!("{name}=absent"));
    }
    fn begin(&mut self, name: &str, group: northstar_core::Group) {
        self.0.push(format!("{name}:{group:?}{{"));
    }
    fn end(&mut self) {
        self.0.push("}".into());
    }
}

#[test]
fn visitor_walks_fields_in_order_and_sessions_are_found() {
    use northstar_core::events::{CorrelationHints, PerfSample, TimeWindow};
    use northstar_core::{Event, List, Payload};
    let dims = [("bench", "get")];
    let ids = [7u64, 9];
    let sample = PerfSample {
        metric_name: "lat",
        dimensions: List::from(&dims),
        value: 1.5,
        unit: "ns",
        timestamp_window: TimeWindow { start: 1, end: 2 },
        correlation_hints: CorrelationHints {
            commit_range: None,
            session_ids: List::from(&ids),
        },
    };
    // Decoded (lazy lists) and built (slices) payloads walk the same.
    let mut buf = [0u8; 256];
    let n = sample.encode_into(&mut buf).unwrap();
    let decoded = Event::decode(EventType::PerfSample, &buf[..n]).unwrap();
    for e in [Event::from(sample), decoded] {
        let mut t = Trace::default();
        e.visit(&mut t);
        assert_eq!(
            t.0.join(" "),
            "metric_name=\"lat\" dimensions:Map{ bench=\"get\" } value=f1.5 unit=\"ns\" \
             timestamp_window:Struct{ start=i1 end=i2 } correlation_hints:Struct{ \
             commit_range=absent session_ids:List{ =u7 =u9 } }"
        );
        let mut sessions = Vec::new();
        e.for_each_session(|s| sessions.push(s));
        assert_eq!(sessions, [7, 9]);
        assert_eq!(e.session_id(), None);
    }
    let ended = Event::from(northstar_core::events::AgentSessionEnded { session_id: 42 });
    let mut sessions = Vec::new();
    ended.for_each_session(|s| sessions.push(s));
    assert_eq!((sessions, ended.session_id()), (vec![42], Some(42)));
}
