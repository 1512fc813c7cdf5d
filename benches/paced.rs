//! Paced producers into a store with the **default** `StoreConfig` (fsync every second,
//! 128 MiB write buffer, 32 MiB rings), as users run it: one thread records at a fixed rate for a fixed time
//! (or number of events), then `flush()`; a run counts the events its rings dropped. Reported
//! as "runs with zero drops out of N" (numbers in docs/PERFORMANCE.md, "Drain and writer").
//!
//! ```text
//! cargo bench -j2 -p northstar-benches --bench paced -- <scenario> [--rate R] [--seconds S]
//!     [--events N] [--runs K] [--stall-ms M] [--stall-every-ms P] [--dir D] [--warm-mib W]
//!     [--timeline]
//! ```
//! Scenarios: `perf2` (`perf_sample!` with two dimensions: 44 bytes in the ring and on disk,
//! 137 as the standard record readers expand it to; default 5 M/s),
//! `minimal` (`event!(AgentSessionEnded)`, a 40-byte record, default 10 M/s), `perf95`
//! (`perf_sample` of 95 bytes through `EventManager::record`, default 10 M/s).
//! `--stall-ms M` stalls the writer thread M ms every `--stall-every-ms` (1000) through the
//! store's test hook (a slow disk, a long fsync or a dirty-page throttle). `--warm-mib W`
//! sets `StoreConfig::warm_buffer_bytes` (default: the default config's) for comparisons.
//! `--ring-mib R` (perf95 only: the macros record into the global recorder, whose rings are
//! fixed when it is built) records into a recorder of R MiB rings instead of the default 32.
//! Every run reports the CPU time the hypervisor took from each core ("steal", `/proc/stat`),
//! in all and its largest jump within 10 ms: a core stolen for 100 ms stops the flusher for
//! 100 ms, longer than a 16 MiB ring held at these rates (docs/PERFORMANCE.md).
//! `--timeline` prints, per run, when events were dropped and which thread had the cores
//! (see [`Timeline`]; a diagnostic: it takes CPU time of its own).
#![allow(missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use northstar_benches::perf95;
use northstar_core::events::AgentSessionEnded;
use northstar_core::recorder::Recorder;
use northstar_core::{event, perf_sample, Visibility};
use northstar_store::{EventManager, StoreConfig, WriteHook, WriteSite};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    Perf2,
    Minimal,
    Perf95,
}

struct Args {
    scenario: Scenario,
    rate: u64,
    events: u64,
    runs: u32,
    stall: Duration,
    stall_every: Duration,
    dir: Option<std::path::PathBuf>,
    warm: usize,
    timeline: bool,
    ring_mib: Option<usize>,
}

fn parse() -> Args {
    let mut it = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut scenario = None;
    let (mut rate, mut seconds, mut events, mut runs) = (None, 10.0f64, None, 1u32);
    let (mut stall, mut stall_every, mut dir) = (0u64, 1000u64, None);
    let mut warm = northstar_store::DEFAULT_WARM_BUFFER_BYTES;
    let mut timeline = false;
    let mut ring_mib = None;
    while let Some(a) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "perf2" => scenario = Some(Scenario::Perf2),
            "minimal" => scenario = Some(Scenario::Minimal),
            "perf95" => scenario = Some(Scenario::Perf95),
            "--rate" => rate = Some(val().parse().expect("--rate")),
            "--seconds" => seconds = val().parse().expect("--seconds"),
            "--events" => events = Some(val().parse().expect("--events")),
            "--runs" => runs = val().parse().expect("--runs"),
            "--stall-ms" => stall = val().parse().expect("--stall-ms"),
            "--stall-every-ms" => stall_every = val().parse().expect("--stall-every-ms"),
            "--dir" => dir = Some(val().into()),
            "--timeline" => timeline = true,
            "--ring-mib" => ring_mib = Some(val().parse::<usize>().expect("--ring-mib")),
            "--warm-mib" => warm = val().parse::<usize>().expect("--warm-mib") << 20,
            other => panic!("unknown argument {other:?} (see benches/paced.rs)"),
        }
    }
    let scenario = scenario.unwrap_or(Scenario::Perf2);
    assert!(
        ring_mib.is_none() || scenario == Scenario::Perf95,
        "--ring-mib applies to perf95 only: the macros record into the global recorder"
    );
    let rate = rate.unwrap_or(match scenario {
        Scenario::Perf2 => 5_000_000,
        _ => 10_000_000,
    });
    Args {
        scenario,
        rate,
        events: events.unwrap_or((rate as f64 * seconds) as u64),
        runs,
        stall: Duration::from_millis(stall),
        stall_every: Duration::from_millis(stall_every.max(1)),
        dir,
        warm,
        timeline,
        ring_mib,
    }
}

/// Per core, the CPU time (ms) the hypervisor gave to others while this VM wanted it (the
/// `steal` column of `/proc/stat`, in USER_HZ ticks, 10 ms on nearly every Linux), read every 10 ms by a
/// thread of its own for the length of a run: in all, and the largest jump between two reads.
struct StealWatch {
    done: Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<Vec<(u64, u64)>>,
}

impl StealWatch {
    /// Milliseconds per `/proc/stat` tick: USER_HZ, which is 100 on nearly every Linux but
    /// is the kernel's to choose, so it is asked for.
    fn ms_per_tick() -> u64 {
        // SAFETY: sysconf reads a configuration value; it takes no pointers.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if hz > 0 && hz <= 1000 {
            1000 / hz as u64
        } else {
            10
        }
    }

    fn read(ms: u64) -> Vec<u64> {
        std::fs::read_to_string("/proc/stat")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
            .map(|l| {
                l.split_whitespace()
                    .nth(8)
                    .and_then(|x| x.parse::<u64>().ok())
                    .unwrap_or(0)
                    * ms
            })
            .collect()
    }

    fn start() -> Self {
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = done.clone();
        let handle = std::thread::spawn(move || {
            let ms = Self::ms_per_tick();
            let first = Self::read(ms);
            let mut last = first.clone();
            let mut largest = vec![0u64; first.len()];
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(10));
                let now = Self::read(ms);
                for ((l, n), big) in last.iter().zip(&now).zip(&mut largest) {
                    *big = (*big).max(n.saturating_sub(*l));
                }
                last = now;
            }
            first
                .iter()
                .zip(&last)
                .zip(largest)
                .map(|((f, l), big)| (l.saturating_sub(*f), big))
                .collect()
        });
        Self { done, handle }
    }

    /// "total/largest jump" ms per core.
    fn finish(self) -> String {
        self.done.store(true, Ordering::Relaxed);
        let per = self.handle.join().unwrap_or_default();
        let cores: Vec<String> = per.iter().map(|(t, b)| format!("{t}/{b}")).collect();
        cores.join(" ")
    }
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// `--timeline` (Linux): a thread that wakes every millisecond and notes the rings' drop
/// count, how late it woke (the VM's pauses show as gaps) and, from `/proc`, the CPU time each
/// of the store's threads and the producer ran and waited for a core, and the core it was on.
/// After the run it prints when drops happened, every gap over 5 ms, each thread's totals, and
/// for a run that dropped, 5 ms steps from 150 ms before the first drop. It costs a tenth of a
/// core or so, so runs with it are diagnostics, not counted.
struct Timeline {
    done: Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<(Vec<String>, Vec<Sample>)>,
}

/// One look: microseconds since the run started, since the previous look, the rings' lost
/// count, and per thread (run ns, run-queue wait ns, core).
struct Sample {
    at_us: u64,
    gap_us: u64,
    lost: u64,
    threads: Vec<(u64, u64, u64)>,
}

impl Timeline {
    fn start(recorder: Recorder, start: Instant) -> Self {
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = done.clone();
        let handle = std::thread::spawn(move || {
            let comm = |dir: &std::path::Path| std::fs::read_to_string(dir.join("comm"));
            // The flusher spawns the writer when it starts: wait for it (up to 200 ms) so the
            // list has it.
            let mut threads = Self::threads();
            for _ in 0..200 {
                if threads
                    .iter()
                    .any(|(n, _)| n.starts_with("northstar-write"))
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
                threads = Self::threads();
            }
            let mut samples = Vec::new();
            let mut last = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(1));
                let now = Instant::now();
                // A thread that has ended (the writer, when the flusher closes first) keeps
                // its last reading, so its totals do not run backwards.
                let readings = threads
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        Self::read(&t.1).unwrap_or_else(|| {
                            samples
                                .last()
                                .map_or((0, 0, u64::MAX), |s: &Sample| s.threads[i])
                        })
                    })
                    .collect();
                samples.push(Sample {
                    at_us: (now - start).as_micros() as u64,
                    gap_us: (now - last).as_micros() as u64,
                    lost: recorder.counters().lost(),
                    threads: readings,
                });
                last = now;
            }
            // Named again at the end, where the thread is still there: one spawned just
            // before the run may not have set its own name when the list was taken.
            let names = threads
                .iter()
                .map(|(name, dir)| comm(dir).map_or(name.clone(), |n| n.trim().to_string()))
                .collect();
            (names, samples)
        });
        Self { done, handle }
    }

    /// The store's threads and the producer (this process's threads named `northstar-*`
    /// and `paced*`): name and `/proc` directory.
    fn threads() -> Vec<(String, std::path::PathBuf)> {
        let mut found = Vec::new();
        for e in std::fs::read_dir("/proc/self/task")
            .into_iter()
            .flatten()
            .flatten()
        {
            let dir = e.path();
            let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            let comm = comm.trim();
            if comm.starts_with("northstar-") || comm.starts_with("paced") {
                found.push((comm.to_string(), dir));
            }
        }
        found.sort();
        found
    }

    /// (ns on a core, ns waiting for one, the core it last ran on) of one thread; `None` once
    /// the thread has ended.
    fn read(dir: &std::path::Path) -> Option<(u64, u64, u64)> {
        let sched = std::fs::read_to_string(dir.join("schedstat")).ok()?;
        let mut times = sched.split_whitespace().map(|x| x.parse().unwrap_or(0));
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        // Field 39, "processor", counted after the parenthesised command name.
        let after_name = stat.rsplit(')').next().unwrap_or("");
        let core = after_name
            .split_whitespace()
            .nth(36)
            .and_then(|x| x.parse().ok())
            .unwrap_or(u64::MAX);
        Some((times.next().unwrap_or(0), times.next().unwrap_or(0), core))
    }

    fn finish(self, lost_before: u64) {
        self.done.store(true, Ordering::Relaxed);
        let (names, samples) = self.handle.join().unwrap();
        let mut line = String::new();
        let mut prev = lost_before;
        for s in &samples {
            if s.gap_us > 5_000 || s.lost > prev {
                line.push_str(&format!(" {}ms:{}", s.at_us / 1000, s.gap_us / 1000));
                if s.lost > prev {
                    line.push_str(&format!("(+{})", s.lost - prev));
                }
            }
            prev = s.lost;
        }
        println!("    timeline (at ms: monitor woke after ms, (+dropped)):{line}");
        let ms = |ns: u64| ns as f64 / 1e6;
        if let (Some(a), Some(b)) = (samples.first(), samples.last()) {
            let per: Vec<String> = names
                .iter()
                .zip(a.threads.iter().zip(&b.threads))
                .map(|(n, (x, y))| {
                    format!(
                        "{n} ran {:.0} ms, waited {:.0} ms",
                        ms(y.0.saturating_sub(x.0)),
                        ms(y.1.saturating_sub(x.1))
                    )
                })
                .collect();
            println!("    threads: {}", per.join("; "));
        }
        let Some(first) = samples.iter().position(|s| s.lost > lost_before) else {
            return;
        };
        println!("    5 ms steps before and after the first drop, per thread ran/waited ms @core: {names:?}");
        let end = (first + 60).min(samples.len() - 1);
        let mut i = first.saturating_sub(150);
        while i + 5 <= end {
            let (a, b) = (&samples[i], &samples[i + 5]);
            let per: Vec<String> = a
                .threads
                .iter()
                .zip(&b.threads)
                .map(|(x, y)| {
                    format!(
                        "{:.1}/{:.1}@{}",
                        ms(y.0.saturating_sub(x.0)),
                        ms(y.1.saturating_sub(x.1)),
                        y.2
                    )
                })
                .collect();
            println!(
                "      {:6}..{:6} ms dropped {:6} {}",
                a.at_us / 1000,
                b.at_us / 1000,
                b.lost - a.lost,
                per.join(" ")
            );
            i += 5;
        }
    }
}

/// One run; returns (dropped, stored, offered rate, stalls, steal per core).
fn run(a: &Args) -> (u64, u64, f64, u64, String) {
    let dir = match &a.dir {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let stalls = Arc::new(AtomicU64::new(0));
    let hook: Option<WriteHook> = (!a.stall.is_zero()).then(|| {
        let (stall, every, s) = (a.stall, a.stall_every, stalls.clone());
        let next = std::sync::Mutex::new(Instant::now() + every);
        Arc::new(move |site: WriteSite| {
            if let WriteSite::Block { .. } = site {
                let mut n = next.lock().unwrap();
                if Instant::now() >= *n {
                    *n = Instant::now() + every;
                    drop(n);
                    s.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(stall);
                }
            }
            Ok(())
        }) as WriteHook
    });
    let recorder = match a.ring_mib {
        None => Recorder::global().clone(),
        Some(mib) => Recorder::new(northstar_core::recorder::RecorderConfig {
            ring_bytes: mib << 20,
            ..Default::default()
        })
        .expect("--ring-mib: a power of two"),
    };
    let m = EventManager::open(
        dir.path(),
        StoreConfig {
            recorder: Some(recorder.clone()),
            write_hook: hook,
            warm_buffer_bytes: a.warm,
            ..StoreConfig::default()
        },
    )
    .unwrap();
    let before = recorder.counters();
    let stored_before = m.stats().unwrap().events;
    let step = 1_000_000_000 / a.rate;
    let start = Instant::now();
    let timeline = a.timeline.then(|| Timeline::start(recorder.clone(), start));
    let steal = StealWatch::start();
    for i in 0..a.events {
        while (start.elapsed().as_nanos() as u64) < i * step {
            std::hint::spin_loop();
        }
        match a.scenario {
            Scenario::Perf2 => {
                perf_sample!("get_latency_ns", i, "ns", "benchmark" => "btree_point_get", "mode" => "read")
            }
            Scenario::Minimal => event!(AgentSessionEnded { session_id: i }, actor = 1),
            Scenario::Perf95 => {
                let _ = m.record(1, Visibility::Public, &perf95(i));
            }
        }
    }
    let elapsed = start.elapsed();
    let steal = steal.finish();
    if let Some(t) = timeline {
        t.finish(before.lost());
    }
    m.flush().unwrap();
    let after = recorder.counters();
    let stored = m.stats().unwrap().events - stored_before;
    m.close().unwrap();
    (
        after.lost() - before.lost(),
        stored,
        a.events as f64 / elapsed.as_secs_f64(),
        stalls.load(Ordering::Relaxed),
        steal,
    )
}

fn main() {
    let a = parse();
    println!(
        "paced/{:?}: {} events per run at {:.1} M/s, {} runs, default StoreConfig{}{}; load before: {}",
        a.scenario,
        a.events,
        a.rate as f64 / 1e6,
        a.runs,
        if a.stall.is_zero() {
            String::new()
        } else {
            format!(
                ", writer stalled {:?} every {:?}",
                a.stall, a.stall_every
            )
        },
        if a.warm == northstar_store::DEFAULT_WARM_BUFFER_BYTES {
            String::new()
        } else {
            format!(", warm_buffer_bytes {} MiB", a.warm >> 20)
        } + &a
            .ring_mib
            .map_or(String::new(), |r| format!(", {r} MiB rings")),
        load()
    );
    let mut clean = 0;
    let mut drops = Vec::new();
    for r in 0..a.runs {
        let (dropped, stored, offered, stalls, steal) = run(&a);
        assert_eq!(stored + dropped, a.events, "stored + dropped = recorded");
        println!(
            "  run {:2}: offered {:.2} M/s, stored {stored}, dropped {dropped}, writer stalls {stalls}, steal ms per core (total/largest in 10 ms) {steal}, load {}",
            r + 1,
            offered / 1e6,
            load()
        );
        clean += u32::from(dropped == 0);
        drops.push(dropped);
    }
    drops.sort_unstable();
    println!(
        "paced/{:?}: runs with zero drops: {clean} of {}; dropped per run, sorted: {drops:?}; load after: {}",
        a.scenario,
        a.runs,
        load()
    );
}
