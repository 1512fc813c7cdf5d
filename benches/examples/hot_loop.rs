//! A loop of hot-path calls for instruction-level profiling, e.g.
//! `valgrind --tool=callgrind target/release/examples/hot_loop perf_sample 100000`.
use northstar_core::events::AgentSessionEnded;
use northstar_core::recorder::{Recorder, RecorderConfig};
use northstar_core::{event, operation, perf_sample};

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "perf_sample".into());
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    Recorder::configure_global(RecorderConfig {
        rings: 2,
        ..Default::default()
    })
    .expect("first configuration");
    let recorder = Recorder::global();
    let mut drainer = recorder.drainer().expect("sole drainer");
    for i in 0..n {
        match what.as_str() {
            "fixed" => event!(AgentSessionEnded { session_id: i }, actor = 7),
            "operation" => {
                let _op = operation!(
                    "get",
                    "btree",
                    std::hint::black_box("user:000042"),
                    agent = 1,
                    session = i
                );
            }
            _ => {
                perf_sample!("get_latency_ns", i, "ns", "benchmark" => "btree_point_get", "mode" => "read")
            }
        }
        if i % 8192 == 0 {
            drainer.drain(usize::MAX, |_, r| {
                std::hint::black_box(r);
            });
        }
    }
    println!("{:?}", recorder.counters());
}
