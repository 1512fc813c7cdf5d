//! Whole-store scans in a loop, for profiling the scan (issue 12, section 3), e.g.
//! `perf record -g target/release/examples/scan_loop /tmp/store 1024 2 5`: builds a store of
//! about `MiB` mebibytes of 95-byte `perf_sample` records in `DIR` if it holds no segments yet
//! (kept for later runs), then scans it `runs` times on `threads` threads and prints the rate
//! of each run, and of reading the same files with `fs::read` (the floor).
use std::time::Instant;

use northstar_core::recorder::{Recorder, RecorderConfig};
use northstar_core::{Payload, Visibility};
use northstar_store::{EventManager, FsyncPolicy, Query, StoreConfig, StoreReader};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| "/tmp/scan_store".into()));
    let mib: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1024);
    let threads: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(2);
    let runs: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    std::fs::create_dir_all(&dir).expect("data directory");
    let files = || -> Vec<_> {
        std::fs::read_dir(&dir)
            .expect("data directory")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "nss"))
            .collect()
    };
    if files().is_empty() {
        build(&dir, mib);
    }
    let reader = StoreReader::open(&dir).expect("open");
    for _ in 0..runs {
        let cpu = cpu_time();
        let start = Instant::now();
        let s = reader
            .scan(&Query::default(), threads, |id, r| {
                std::hint::black_box((id, r.payload().len()));
            })
            .expect("scan");
        let t = start.elapsed();
        let cpu = cpu_time() - cpu;
        println!(
            "scan, {threads} threads: {} bytes, {} records in {t:?}: {:.2} GB/s; \
             {cpu:.3} s of CPU: {:.2} GB per CPU-second",
            s.bytes,
            s.visited,
            s.bytes as f64 / t.as_secs_f64() / 1e9,
            s.bytes as f64 / cpu / 1e9
        );
    }
    let cpu = cpu_time();
    let start = Instant::now();
    let n: usize = files()
        .iter()
        .map(|p| std::fs::read(p).expect("read").len())
        .sum();
    let t = start.elapsed();
    let cpu = cpu_time() - cpu;
    println!(
        "fs::read of the same files: {n} bytes in {t:?}: {:.2} GB/s; {cpu:.3} s of CPU: {:.2} GB \
         per CPU-second",
        n as f64 / t.as_secs_f64() / 1e9,
        n as f64 / cpu / 1e9
    );
}

/// CPU time of the whole process (every thread) in seconds: on a machine shared with other
/// work, the wall time of a scan says more about the other work than about the scan.
fn cpu_time() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the C library
    // defines.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// 16 segments of `mib / 16` MiB each.
fn build(dir: &std::path::Path, mib: u64) {
    let sample = northstar_benches::perf95;
    let per_record = (sample(0).encoded_len() + northstar_core::record::FRAMING_LEN) as u64;
    let per_segment = (mib << 20) / 16 / (per_record + 1);
    let recorder = Recorder::new(RecorderConfig::default()).expect("recorder");
    for _ in 0..16 {
        let config = StoreConfig {
            fsync: FsyncPolicy::None,
            recorder: Some(recorder.clone()),
            ..StoreConfig::default()
        };
        let m = EventManager::open(dir, config).expect("open for writing");
        for i in 0..per_segment {
            while m.record(1, Visibility::Public, &sample(i)).is_err() {
                std::thread::yield_now();
            }
        }
        m.close().expect("close");
    }
}
