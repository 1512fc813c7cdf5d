//! Round-trip property tests for all eleven payloads: encode into a caller's buffer, decode as
//! borrowed views, compare; the same through a whole record; every truncation is rejected
//! with an error, never a panic.

use northstar_core::codec::List;
use northstar_core::events::*;
use northstar_core::limits::DEFAULT_PAYLOAD_LIMIT;
use northstar_core::record::{decode_record, write_record, EventHeader, FRAMING_LEN};
use northstar_core::{Event, EventType, Payload, Visibility};
use proptest::prelude::*;

/// The sessions of a decoded event, in the order `for_each_session` gives them.
fn sessions(e: &Event<'_>) -> Vec<u64> {
    let mut found = Vec::new();
    e.for_each_session(|s| found.push(s));
    found
}

/// The sessions `EventType::for_each_session_in` finds in an encoded payload (the index's
/// walk, which decodes only the fields that can hold them).
fn walked_sessions(t: EventType, payload: &[u8]) -> Result<Vec<u64>, northstar_core::DecodeError> {
    let mut found = Vec::new();
    t.for_each_session_in(payload, |s| found.push(s))?;
    Ok(found)
}

/// Encodes `v`, decodes it back, checks equality, the exact length, the record wrapping and
/// that every strict prefix fails to decode.
macro_rules! check {
    ($ty:ident, $v:expr) => {{
        let v = $v;
        let len = Payload::encoded_len(&v);
        let mut buf = vec![0u8; len];
        let written = v.encode_into(&mut buf).expect("encode into exact buffer");
        assert_eq!(written, len, "encoded_len is exact");
        let decoded = <$ty as Payload>::decode(&buf).expect("decode");
        assert_eq!(decoded, v);
        // The index's walk finds the sessions decoding finds, in the same order.
        assert_eq!(
            walked_sessions(<$ty as Payload>::EVENT_TYPE, &buf),
            Ok(sessions(&Event::from(v)))
        );
        // Re-encoding the decoded (still-encoded lists) form gives the same bytes.
        let mut again = vec![0u8; Payload::encoded_len(&decoded)];
        decoded.encode_into(&mut again).unwrap();
        assert_eq!(again, buf);
        // A buffer one byte short is an error, not a panic.
        if len > 0 {
            let mut short = vec![0u8; len - 1];
            assert!(v.encode_into(&mut short).is_err());
        }
        // Through a whole record.
        let header = EventHeader::new(
            <$ty as Payload>::EVENT_TYPE,
            Visibility::Team,
            123,
            9,
            0,
            len,
        );
        let mut record = vec![0u8; FRAMING_LEN + len];
        write_record(&mut record, &header, |dst| dst.copy_from_slice(&buf));
        let view = decode_record(&record).expect("record");
        assert_eq!(view.event_type(), Some(<$ty as Payload>::EVENT_TYPE));
        assert_eq!(view.visibility(), Visibility::Team);
        assert_eq!(view.event().expect("payload"), Event::from(v));
        // Every strict prefix of the payload is rejected (bounded for big payloads).
        for cut in (0..len).rev().take(64) {
            assert!(
                <$ty as Payload>::decode(&buf[..cut]).is_err(),
                "prefix {cut}/{len} accepted"
            );
            assert!(
                walked_sessions(<$ty as Payload>::EVENT_TYPE, &buf[..cut]).is_err()
                    || !<$ty as Payload>::EVENT_TYPE.has_sessions(),
                "prefix {cut}/{len} walked"
            );
        }
        // Trailing garbage is rejected.
        let mut long = buf.clone();
        long.push(0);
        assert!(<$ty as Payload>::decode(&long).is_err());
        assert!(
            walked_sessions(<$ty as Payload>::EVENT_TYPE, &long).is_err()
                || !<$ty as Payload>::EVENT_TYPE.has_sessions()
        );
    }};
}

fn s() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}
fn strs() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(s(), 0..5)
}
fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((s(), s()), 0..5)
}
fn finite() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("NaN never equals itself", |f| !f.is_nan())
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}
fn pair_refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn agent_events(id in any::<u64>(), a in s(), b in s(), c in s(), d in s(), md in pairs(), dur in any::<Option<i64>>()) {
        let md = pair_refs(&md);
        check!(AgentSessionStarted, AgentSessionStarted { session_id: id, agent_version: &a, session_purpose: &b, metadata: List::Slice(&md) });
        check!(AgentSessionEnded, AgentSessionEnded { session_id: id });
        check!(AgentOperation, AgentOperation {
            session_id: id, operation_type: &a, operation_id: !id, target_type: &b, target_id: &c,
            status: &d, duration_ns: dur, metadata: List::Slice(&md),
        });
    }

    #[test]
    fn review_events(a in s(), b in s(), c in s(), r in strs(), t in any::<i64>(), conf in any::<f32>().prop_filter("not NaN", |f| !f.is_nan()), h in prop::option::of(s())) {
        let r = refs(&r);
        check!(ReviewNote, ReviewNote { target_type: &a, target_id: &b, note_text: &c, references: List::Slice(&r), created_at: t });
        check!(ReviewSummary, ReviewSummary {
            target_type: &a, target_id: &b, summary_text: &c, confidence: conf, model_id: &a,
            prompt_hash: h.as_deref(), created_at: t,
        });
    }

    #[test]
    fn perf_events(name in s(), unit in s(), dims in pairs(), v in finite(), w in any::<(i64, i64)>(), cr in prop::option::of(s()), sids in prop::collection::vec(any::<u64>(), 0..6), commits in strs(), pct in any::<f32>().prop_filter("not NaN", |f| !f.is_nan()), sev in 0usize..3) {
        let dims = pair_refs(&dims);
        let commits = refs(&commits);
        check!(PerfSample, PerfSample {
            metric_name: &name, dimensions: List::Slice(&dims), value: v, unit: &unit,
            timestamp_window: TimeWindow { start: w.0, end: w.1 },
            correlation_hints: CorrelationHints { commit_range: cr.as_deref(), session_ids: List::Slice(&sids) },
        });
        check!(PerfRegression, PerfRegression {
            metric_name: &name, baseline_value: v, current_value: -v, regression_percent: pct,
            severity: Severity::ALL[sev], detected_at: w.0, likely_cause: cr.as_deref(),
            correlated_commits: List::Slice(&commits),
        });
    }

    #[test]
    fn debug_events(tool in s(), id in any::<u64>(), bps in prop::collection::vec((s(), any::<u32>(), prop::option::of(s()), any::<u32>()), 0..4), stack in prop::option::of(s()), cs in strs(), ss in strs(), vars in pairs()) {
        let bps: Vec<Breakpoint> = bps.iter().map(|(f, l, c, h)| Breakpoint { file_path: f, line: *l, condition: c.as_deref(), hit_count: *h }).collect();
        let cs = refs(&cs);
        let ss = refs(&ss);
        let vars = pair_refs(&vars);
        check!(DebugSession, DebugSession {
            tool: &tool, session_id: id, breakpoints: List::Slice(&bps), stack_summary: stack.as_deref(),
            references: DebugReferences { commit_ids: List::Slice(&cs), symbol_names: List::Slice(&ss) },
        });
        let frames: Vec<StackFrame> = bps.iter().map(|b| StackFrame { function: b.file_path, file_path: b.file_path, line: b.line }).collect();
        check!(DebugSnapshot, DebugSnapshot {
            session_id: id, snapshot_id: !id, reason: &tool, thread_id: id / 2,
            frames: List::Slice(&frames), variables: List::Slice(&vars),
        });
    }

    #[test]
    fn vcs_events(h in s(), m in s(), files in strs(), parents in strs(), br in s(), t in any::<i64>(), act in 0usize..3, base in prop::option::of(s()), ah in any::<u32>(), be in any::<u32>()) {
        let files = refs(&files);
        let parents = refs(&parents);
        check!(VcsCommit, VcsCommit { commit_hash: &h, commit_message: &m, changed_files: List::Slice(&files), parent_commits: List::Slice(&parents), branch: &br, timestamp: t });
        check!(VcsBranch, VcsBranch { branch: &br, action: BranchAction::ALL[act], head_commit: &h, base_branch: base.as_deref(), ahead: ah, behind: be });
    }

    /// Arbitrary bytes never panic any decoder, and whatever decodes re-encodes to the same bytes.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        for t in EventType::ALL {
            let walked = walked_sessions(t, &bytes);
            if let Ok(ev) = Event::decode(t, &bytes) {
                let mut out = vec![0u8; ev.encoded_len()];
                ev.encode_into(&mut out).unwrap();
                prop_assert_eq!(out, bytes.clone());
                prop_assert_eq!(walked, Ok(sessions(&ev)));
            }
        }
        let _ = decode_record(&bytes);
    }
}

#[test]
fn empty_values_round_trip() {
    check!(
        AgentSessionStarted,
        AgentSessionStarted {
            session_id: 0,
            agent_version: "",
            session_purpose: "",
            metadata: List::EMPTY
        }
    );
    check!(AgentSessionEnded, AgentSessionEnded { session_id: 0 });
    check!(
        AgentOperation,
        AgentOperation {
            session_id: 0,
            operation_type: "",
            operation_id: 0,
            target_type: "",
            target_id: "",
            status: "",
            duration_ns: None,
            metadata: List::EMPTY,
        }
    );
    check!(
        ReviewNote,
        ReviewNote {
            target_type: "",
            target_id: "",
            note_text: "",
            references: List::EMPTY,
            created_at: 0
        }
    );
    check!(
        ReviewSummary,
        ReviewSummary {
            target_type: "",
            target_id: "",
            summary_text: "",
            confidence: 0.0,
            model_id: "",
            prompt_hash: None,
            created_at: 0
        }
    );
    check!(
        PerfSample,
        PerfSample {
            metric_name: "",
            dimensions: List::EMPTY,
            value: 0.0,
            unit: "",
            timestamp_window: TimeWindow { start: 0, end: 0 },
            correlation_hints: CorrelationHints::NONE,
        }
    );
    check!(
        PerfRegression,
        PerfRegression {
            metric_name: "",
            baseline_value: 0.0,
            current_value: 0.0,
            regression_percent: 0.0,
            severity: Severity::Minor,
            detected_at: 0,
            likely_cause: None,
            correlated_commits: List::EMPTY,
        }
    );
    check!(
        DebugSession,
        DebugSession {
            tool: "",
            session_id: 0,
            breakpoints: List::EMPTY,
            stack_summary: None,
            references: DebugReferences {
                commit_ids: List::EMPTY,
                symbol_names: List::EMPTY
            },
        }
    );
    check!(
        DebugSnapshot,
        DebugSnapshot {
            session_id: 0,
            snapshot_id: 0,
            reason: "",
            thread_id: 0,
            frames: List::EMPTY,
            variables: List::EMPTY
        }
    );
    check!(
        VcsCommit,
        VcsCommit {
            commit_hash: "",
            commit_message: "",
            changed_files: List::EMPTY,
            parent_commits: List::EMPTY,
            branch: "",
            timestamp: 0
        }
    );
    check!(
        VcsBranch,
        VcsBranch {
            branch: "",
            action: BranchAction::Deleted,
            head_commit: "",
            base_branch: None,
            ahead: 0,
            behind: 0
        }
    );
}

#[test]
fn maximal_values_round_trip() {
    // A payload exactly at the spec's 1 MiB limit, and extreme numbers everywhere.
    let fixed = 4 + 4 + 8 + 4 + 1 + 1 + 4 + 1 + 4; // every field but the note text
    let text = "x".repeat(DEFAULT_PAYLOAD_LIMIT - fixed - 4 - 16);
    let refs = ["r"; 4];
    let note = ReviewNote {
        target_type: "pr",
        target_id: "12",
        note_text: &text,
        references: List::Slice(&refs[..0]),
        created_at: i64::MIN,
    };
    let len = Payload::encoded_len(&note);
    assert!(
        len <= DEFAULT_PAYLOAD_LIMIT && len > DEFAULT_PAYLOAD_LIMIT - 64,
        "len {len}"
    );
    check!(ReviewNote, note);
    let many: Vec<u64> = (0..10_000).map(|i| u64::MAX - i).collect();
    check!(
        PerfSample,
        PerfSample {
            metric_name: "m",
            dimensions: List::EMPTY,
            value: f64::MAX,
            unit: "ns",
            timestamp_window: TimeWindow {
                start: i64::MIN,
                end: i64::MAX
            },
            correlation_hints: CorrelationHints {
                commit_range: Some(&text[..1000]),
                session_ids: List::Slice(&many)
            },
        }
    );
    check!(
        AgentOperation,
        AgentOperation {
            session_id: u64::MAX,
            operation_type: "é漢字🙂",
            operation_id: u64::MAX,
            target_type: "t",
            target_id: "",
            status: "s",
            duration_ns: Some(i64::MAX),
            metadata: List::EMPTY,
        }
    );
}

#[test]
fn malformed_tags_and_utf8_are_typed_errors() {
    use northstar_core::DecodeError;
    // Optional tag 2 where duration_ns's tag belongs.
    let op = AgentOperation {
        session_id: 1,
        operation_type: "a",
        operation_id: 2,
        target_type: "b",
        target_id: "c",
        status: "d",
        duration_ns: None,
        metadata: List::EMPTY,
    };
    let mut buf = vec![0u8; Payload::encoded_len(&op)];
    op.encode_into(&mut buf).unwrap();
    let tag_at = buf.len() - 4 - 1;
    buf[tag_at] = 2;
    assert_eq!(
        AgentOperation::decode(&buf),
        Err(DecodeError::BadTag {
            at: tag_at,
            value: 2
        })
    );
    // Invalid UTF-8 in a string.
    let ended = AgentSessionStarted {
        session_id: 0,
        agent_version: "ab",
        session_purpose: "",
        metadata: List::EMPTY,
    };
    let mut buf = vec![0u8; Payload::encoded_len(&ended)];
    ended.encode_into(&mut buf).unwrap();
    buf[12] = 0xff;
    assert_eq!(
        AgentSessionStarted::decode(&buf),
        Err(DecodeError::InvalidUtf8 { at: 12 })
    );
    // The index's walk skips strings without checking their UTF-8: it finds the session of a
    // payload readers refuse (its filters may match more than a block holds, never less).
    assert_eq!(
        walked_sessions(EventType::AgentSessionStarted, &buf),
        Ok(vec![0])
    );
    // A list count far beyond the bytes present.
    let mut buf = vec![0u8; 8 + 4 + 4 + 4];
    buf[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        AgentSessionStarted::decode(&buf),
        Err(DecodeError::Truncated { .. })
    ));
}
