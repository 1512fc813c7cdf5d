//! Replays the committed fuzz seeds on stable through the fuzz target's own function, and
//! (ignored) regenerates them: `cargo test -p northstar-core --test fuzz_seeds -- --ignored`.

use std::path::PathBuf;

use northstar_core::events::*;
use northstar_core::record::{write_record, EventHeader, FRAMING_LEN};
use northstar_core::{Event, List, Visibility};

fn seed_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/decode_record")
}

#[test]
fn committed_seeds_replay_cleanly() {
    let mut n = 0;
    for entry in std::fs::read_dir(seed_dir()).expect("seed directory exists") {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        northstar_core::fuzzing::decode_record(&bytes);
        n += 1;
    }
    assert!(n >= 10, "expected the committed seeds, found {n}");
}

fn record(event: &Event<'_>, visibility: Visibility) -> Vec<u8> {
    let len = event.encoded_len();
    let header = EventHeader::new(
        event.event_type(),
        visibility,
        1_704_067_200_000_000_000,
        42,
        0,
        len,
    );
    let mut out = vec![0u8; FRAMING_LEN + len];
    write_record(&mut out, &header, |dst| {
        event.encode_into(dst).unwrap();
    });
    out
}

#[test]
#[ignore = "writes fuzz/seeds/decode_record; run by hand when the format changes"]
fn write_seeds() {
    let md = [
        ("hostname", "dev-machine-1"),
        ("workspace", "/path/to/project"),
    ];
    let dims = [("benchmark", "btree_point_get"), ("mode", "read")];
    let refs = ["commit:abc123", "file:src/main.zig"];
    let sessions = [100, 101];
    let bps = [Breakpoint {
        file_path: "src/btree.rs",
        line: 42,
        condition: Some("key == 7"),
        hit_count: 3,
    }];
    let frames = [StackFrame {
        function: "btree::get",
        file_path: "src/btree.rs",
        line: 42,
    }];
    let events: Vec<Event> = vec![
        AgentSessionStarted {
            session_id: 100,
            agent_version: "1.0.0",
            session_purpose: "code_review",
            metadata: List::Slice(&md),
        }
        .into(),
        AgentSessionEnded { session_id: 100 }.into(),
        AgentOperation {
            session_id: 100,
            operation_type: "read",
            operation_id: 1,
            target_type: "btree",
            target_id: "user_key",
            status: "completed",
            duration_ns: Some(5_000_000),
            metadata: List::EMPTY,
        }
        .into(),
        ReviewNote {
            target_type: "commit",
            target_id: "abc123",
            note_text: "race?",
            references: List::Slice(&refs),
            created_at: 1,
        }
        .into(),
        ReviewSummary {
            target_type: "pr",
            target_id: "7",
            summary_text: "ok",
            confidence: 0.9,
            model_id: "m",
            prompt_hash: None,
            created_at: 2,
        }
        .into(),
        PerfSample {
            metric_name: "latency_p99_ns",
            dimensions: List::Slice(&dims),
            value: 1000.0,
            unit: "ns",
            timestamp_window: TimeWindow { start: 1, end: 2 },
            correlation_hints: CorrelationHints {
                commit_range: Some("abc123..def456"),
                session_ids: List::Slice(&sessions),
            },
        }
        .into(),
        PerfRegression {
            metric_name: "p99_latency_ns",
            baseline_value: 1000.0,
            current_value: 1150.0,
            regression_percent: 15.0,
            severity: Severity::Minor,
            detected_at: 3,
            likely_cause: Some("split"),
            correlated_commits: List::Slice(&refs),
        }
        .into(),
        DebugSession {
            tool: "gdb",
            session_id: 5,
            breakpoints: List::Slice(&bps),
            stack_summary: None,
            references: DebugReferences {
                commit_ids: List::Slice(&refs),
                symbol_names: List::EMPTY,
            },
        }
        .into(),
        DebugSnapshot {
            session_id: 5,
            snapshot_id: 1,
            reason: "breakpoint",
            thread_id: 9,
            frames: List::Slice(&frames),
            variables: List::Slice(&md),
        }
        .into(),
        VcsCommit {
            commit_hash: "abc123",
            commit_message: "fix",
            changed_files: List::Slice(&refs),
            parent_commits: List::EMPTY,
            branch: "main",
            timestamp: 4,
        }
        .into(),
        VcsBranch {
            branch: "feature",
            action: BranchAction::Created,
            head_commit: "abc123",
            base_branch: Some("main"),
            ahead: 1,
            behind: 0,
        }
        .into(),
    ];
    let dir = seed_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let mut stream = Vec::new();
    for event in &events {
        let bytes = record(event, Visibility::Team);
        std::fs::write(
            dir.join(format!("{}.bin", event.event_type().name())),
            &bytes,
        )
        .unwrap();
        stream.extend_from_slice(&bytes);
    }
    std::fs::write(dir.join("all_types_stream.bin"), &stream).unwrap();
    let mut torn = stream.clone();
    torn.truncate(stream.len() - 5);
    std::fs::write(dir.join("torn_tail.bin"), &torn).unwrap();
    let mut bad_magic = record(&events[1], Visibility::Private);
    let n = bad_magic.len();
    bad_magic[n - 8] = b'X';
    std::fs::write(dir.join("bad_magic.bin"), &bad_magic).unwrap();
}
