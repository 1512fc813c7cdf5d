//! The demo's workload: N threads serving gets, puts and commits against [`KvStore`],
//! instrumented with the core macros at every hot path:
//! - a session per thread (`agent_session_started` / `agent_session_ended`, actor = agent id);
//! - an `operation!` scope guard per get, put and commit (`agent_operation` with
//!   `duration_ns`);
//! - every 250 ms, per thread, `perf_sample!`s of the window's latency p50/p99 per operation
//!   and its throughput;
//! - user-defined events in the store itself (`crate::kv`): `kv.wal_sync` per commit (bytes,
//!   fsync duration, writes) and `kv.btree_apply` (writes, new keys, keys, tree depth).
//!
//! Each thread also keeps its own latency histograms, so the report can compare what the
//! store holds with what the threads measured.

use crate::kv::{KvStore, Txn};
use northstar_core::codec::List;
use northstar_core::events::{AgentSessionEnded, AgentSessionStarted};
use northstar_core::recorder::Recorder;
use northstar_core::{event, operation, perf_sample};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// The operations the workload performs.
pub const OPS: [&str; 3] = ["get", "put", "commit"];
/// Keys in the store: `user:00000` to `user:09999`.
pub const KEYS: u64 = 10_000;
/// Puts per transaction before a commit.
pub const PUTS_PER_COMMIT: u64 = 16;
/// First agent id: thread `i` is agent `AGENT_BASE + i`.
pub const AGENT_BASE: u64 = 1000;
const WINDOW: Duration = Duration::from_millis(250);

/// Log-linear latency histogram: 8 sub-buckets per power of two (~9% resolution).
#[derive(Clone)]
pub struct Histogram {
    buckets: Vec<u64>,
    count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: vec![0; 64 * 8],
            count: 0,
        }
    }
}

impl Histogram {
    fn index(ns: u64) -> usize {
        if ns < 8 {
            return ns as usize;
        }
        let log = 63 - ns.leading_zeros() as usize; // >= 3
        let sub = ((ns >> (log - 3)) & 7) as usize;
        (log - 2) * 8 + sub
    }

    fn lower_bound(i: usize) -> u64 {
        if i < 8 {
            return i as u64;
        }
        let log = i / 8 + 2;
        let sub = (i % 8) as u64;
        (8 + sub) << (log - 3)
    }

    /// Adds one observation.
    pub fn add(&mut self, ns: u64) {
        self.buckets[Self::index(ns)] += 1;
        self.count += 1;
    }

    /// Observations.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Adds another histogram's observations.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.count += other.count;
    }

    /// The `q` quantile (0..=1), as its bucket's midpoint; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let lo = Self::lower_bound(i);
                let hi = Self::lower_bound(i + 1);
                return lo + (hi - lo) / 2;
            }
        }
        0
    }

    /// Clears the histogram.
    pub fn reset(&mut self) {
        self.buckets.iter_mut().for_each(|b| *b = 0);
        self.count = 0;
    }
}

/// One thread's numbers over one 250 ms window.
#[derive(Clone, Copy, Debug, Default)]
pub struct Window {
    /// Operations per second, per operation type.
    pub ops_per_sec: [f64; 3],
    /// Median latency in ns per operation type (0: none in the window).
    pub p50_ns: [u64; 3],
    /// p99 latency in ns per operation type (0: none in the window).
    pub p99_ns: [u64; 3],
}

/// What one run measured, per operation type (indexed like [`OPS`]).
#[derive(Default, Clone)]
pub struct WorkloadResult {
    /// Latencies measured by the threads.
    pub latency: [Histogram; 3],
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Session ids used (one per thread).
    pub sessions: Vec<u64>,
    /// fsyncs the log did.
    pub fsyncs: u64,
    /// Allocations and bytes allocated during the run (0 without the counting allocator).
    pub allocs: (u64, u64),
    /// Final number of keys.
    pub keys: usize,
    /// Every thread's windows.
    pub windows: Vec<Window>,
}

impl WorkloadResult {
    /// Operations of type `op` per second.
    pub fn ops_per_sec(&self, op: usize) -> f64 {
        self.latency[op].count() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A tiny deterministic generator (SplitMix64) so each thread's key sequence is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Writes `user:NNNNN` into `buf` without allocating.
fn key_for(n: u64, buf: &mut [u8; 10]) -> &str {
    buf[..5].copy_from_slice(b"user:");
    let mut n = n % 100_000;
    for i in (5..10).rev() {
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    std::str::from_utf8(&buf[..]).unwrap_or("user:?")
}

/// Fills the store with [`KEYS`] keys in one transaction (not instrumented: setup).
pub fn preload(kv: &KvStore) -> std::io::Result<()> {
    let mut txn = Txn::default();
    let mut buf = [0u8; 10];
    for n in 0..KEYS {
        let value = n.to_le_bytes();
        kv.put(&mut txn, key_for(n, &mut buf).as_bytes(), &value);
    }
    kv.commit(&mut txn).map(|_| ())
}

/// Runs the workload for `duration` on `threads` threads. `session_base` makes session ids
/// unique across runs; `progress` is advanced (in milliseconds elapsed) by thread 0.
pub fn run(
    kv: &KvStore,
    threads: u32,
    duration: Duration,
    session_base: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> std::io::Result<WorkloadResult> {
    let start = Instant::now();
    let deadline = start + duration;
    let fsyncs_before = kv.fsync_count();
    let failed = AtomicU64::new(0);
    // Allocations are counted only while the workload's threads run (`alloc_count`).
    let (hists, allocs) = crate::alloc_count::count_while(|| {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let failed = &failed;
                    s.spawn(move || {
                        worker(
                            kv,
                            t,
                            session_base + u64::from(t),
                            deadline,
                            failed,
                            progress,
                        )
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect::<Vec<([Histogram; 3], Vec<Window>)>>()
        })
    });
    let elapsed = start.elapsed();
    if failed.load(Relaxed) > 0 {
        return Err(std::io::Error::other(format!(
            "{} commits to the demo's write-ahead log failed",
            failed.load(Relaxed)
        )));
    }
    let mut result = WorkloadResult {
        elapsed,
        sessions: (0..threads).map(|t| session_base + u64::from(t)).collect(),
        fsyncs: kv.fsync_count() - fsyncs_before,
        allocs,
        keys: kv.len(),
        ..Default::default()
    };
    for (h, w) in &hists {
        for (acc, one) in result.latency.iter_mut().zip(h) {
            acc.merge(one);
        }
        result.windows.extend_from_slice(w);
    }
    Ok(result)
}

fn worker(
    kv: &KvStore,
    thread: u32,
    session: u64,
    deadline: Instant,
    failed: &AtomicU64,
    progress: &(dyn Fn(u64) + Sync),
) -> ([Histogram; 3], Vec<Window>) {
    let rec = Recorder::global();
    let clock = rec.clock();
    let agent = AGENT_BASE + u64::from(thread);
    let thread_name = format!("{thread}");
    let _ = rec.register_thread();
    let meta = [
        ("thread", thread_name.as_str()),
        ("workload", "kv_btree_wal"),
    ];
    event!(
        AgentSessionStarted {
            session_id: session,
            agent_version: env!("CARGO_PKG_VERSION"),
            session_purpose: "northstar demo",
            metadata: List::Slice(&meta),
        },
        actor = agent
    );

    let mut rng = Rng(session.wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut txn = Txn::default();
    let mut all: [Histogram; 3] = Default::default();
    let mut window: [Histogram; 3] = Default::default();
    let mut window_start = Instant::now();
    let mut window_ops = 0u64;
    let mut windows = Vec::new();
    let mut buf = [0u8; 10];
    let mut value = [0u8; 32];
    let mut i: u64 = 0;
    let ns = |from: u64| -> u64 {
        use northstar_core::clock::Clock;
        clock.ticks_to_nanos(rec.now_ticks().wrapping_sub(from))
    };
    loop {
        i += 1;
        if i.is_multiple_of(256) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            if now - window_start >= WINDOW {
                let secs = (now - window_start).as_secs_f64();
                let mut w = Window::default();
                for (op, h) in window.iter().enumerate() {
                    w.ops_per_sec[op] = h.count() as f64 / secs;
                    w.p50_ns[op] = h.quantile(0.5);
                    w.p99_ns[op] = h.quantile(0.99);
                }
                windows.push(w);
                for (op, h) in OPS.iter().zip(&window) {
                    if h.count() > 0 {
                        perf_sample!("operation_latency_p50_ns", h.quantile(0.5), "ns", "op" => op, "thread" => &thread_name);
                        perf_sample!("operation_latency_p99_ns", h.quantile(0.99), "ns", "op" => op, "thread" => &thread_name);
                    }
                }
                perf_sample!("benchmark_throughput", window_ops as f64 / secs, "ops/sec", "thread" => &thread_name);
                window.iter_mut().for_each(Histogram::reset);
                window_ops = 0;
                window_start = now;
                if thread == 0 {
                    progress(deadline.saturating_duration_since(now).as_millis() as u64);
                }
            }
        }
        let r = rng.next();
        let key = key_for(r % KEYS, &mut buf);
        let (op, t0) = if r % 100 < 70 {
            let t0 = rec.now_ticks();
            let _op = operation!("get", "btree", key, agent = agent, session = session);
            let got = kv.get(key.as_bytes());
            std::hint::black_box(got);
            (0, t0)
        } else {
            value[..8].copy_from_slice(&i.to_le_bytes());
            let t0 = rec.now_ticks();
            {
                let _op = operation!("put", "btree", key, agent = agent, session = session);
                kv.put(&mut txn, key.as_bytes(), &value);
            }
            if txn.len() as u64 >= PUTS_PER_COMMIT {
                let d = ns(t0);
                all[1].add(d);
                window[1].add(d);
                window_ops += 1;
                let t0 = rec.now_ticks();
                let mut op =
                    operation!("commit", "wal", "wal.log", agent = agent, session = session);
                if kv.commit(&mut txn).is_err() {
                    op.fail();
                    failed.fetch_add(1, Relaxed);
                }
                drop(op);
                (2, t0)
            } else {
                (1, t0)
            }
        };
        let d = ns(t0);
        all[op].add(d);
        window[op].add(d);
        window_ops += 1;
    }
    if kv.commit(&mut txn).is_err() {
        failed.fetch_add(1, Relaxed);
    }
    event!(
        AgentSessionEnded {
            session_id: session
        },
        actor = agent
    );
    (all, windows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_are_within_a_bucket() {
        let mut h = Histogram::default();
        for v in 1..=1000u64 {
            h.add(v * 100);
        }
        let p50 = h.quantile(0.5) as f64;
        let p99 = h.quantile(0.99) as f64;
        assert!((p50 / 50_000.0 - 1.0).abs() < 0.07, "p50 {p50}");
        assert!((p99 / 99_000.0 - 1.0).abs() < 0.07, "p99 {p99}");
        assert_eq!(Histogram::default().quantile(0.5), 0);
        for v in [0, 7, 8, 9, 15, 16, 1000, u64::MAX / 2] {
            let i = Histogram::index(v);
            assert!(Histogram::lower_bound(i) <= v && v < Histogram::lower_bound(i + 1).max(v + 1));
        }
    }

    #[test]
    fn keys_are_fixed_width() {
        let mut b = [0u8; 10];
        assert_eq!(key_for(42, &mut b), "user:00042");
        assert_eq!(key_for(9999, &mut b), "user:09999");
    }
}
