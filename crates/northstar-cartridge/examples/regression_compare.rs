//! The Rust side of `scripts/regression-compare`: writes the seeded synthetic histories every
//! detector reads, and runs Northstar's detectors over them under the shared protocol.
//!
//! ```text
//! regression_compare generate HISTORIES.jsonl [HISTORIES_PER_LEVEL [SEED]]
//! regression_compare detect HISTORIES.jsonl ALERTS.jsonl [spec|noise [MAX_P]]
//! ```
//!
//! A history line: `{"samples", "noise", "id", "shift_at", "shift_percent", "commits"}` where
//! `commits` holds the samples of each commit. An alerts line: `{"samples", "noise", "id",
//! "alerts": [[commit evaluated, commit named], ...], "seconds"}`: detection runs after every
//! commit on the history so far (the protocol of `northstar_cartridge::evaluate`).
use northstar_cartridge::evaluate::{alerts, histories, EvalConfig, History};
use northstar_cartridge::{Mode, Point};
use serde_json::{json, Value};
use std::io::{BufRead, BufWriter, Write};
use std::time::Instant;

fn usage() -> ! {
    eprintln!(
        "usage: regression_compare generate OUT.jsonl [N [SEED]] | detect IN.jsonl OUT.jsonl [spec|noise]"
    );
    std::process::exit(2)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("generate") if args.len() >= 2 => generate(&args[1], args.get(2), args.get(3)),
        Some("detect") if args.len() >= 3 => detect(&args[1], &args[2], args.get(3), args.get(4)),
        _ => usage(),
    }
}

fn generate(
    out: &str,
    n: Option<&String>,
    seed: Option<&String>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut w = BufWriter::new(std::fs::File::create(out)?);
    for samples in [1, 5] {
        let mut cfg = EvalConfig {
            samples_per_commit: samples,
            ..EvalConfig::default()
        };
        if let Some(n) = n {
            cfg.histories = n.parse()?;
        }
        if let Some(seed) = seed {
            cfg.seed = seed.parse()?;
        }
        for li in 0..cfg.noise_levels.len() {
            for (id, h) in histories(&cfg, li).iter().enumerate() {
                let commits: Vec<Vec<f64>> = h
                    .points
                    .chunks(samples)
                    .map(|c| c.iter().map(|p| p.value).collect())
                    .collect();
                let line = json!({
                    "samples": samples,
                    "noise": h.noise,
                    "id": id,
                    "shift_at": h.shift_at,
                    "shift_percent": h.shift_percent,
                    "commits": commits,
                });
                writeln!(w, "{line}")?;
            }
        }
    }
    w.flush()?;
    Ok(())
}

fn detect(
    input: &str,
    out: &str,
    mode: Option<&String>,
    max_p: Option<&String>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mode = match mode.map(String::as_str) {
        None | Some("noise") => Mode::NoiseAware,
        Some("spec") => Mode::Spec,
        Some(_) => usage(),
    };
    let mut w = BufWriter::new(std::fs::File::create(out)?);
    for line in std::io::BufReader::new(std::fs::File::open(input)?).lines() {
        let v: Value = serde_json::from_str(&line?)?;
        let commits: Vec<Vec<f64>> = serde_json::from_value(v["commits"].clone())?;
        let samples = commits.first().map_or(1, Vec::len);
        let mut points = Vec::new();
        for (c, vals) in commits.iter().enumerate() {
            for &value in vals {
                points.push(Point {
                    timestamp: points.len() as u64,
                    value,
                    commit: Some(c.to_string()),
                });
            }
        }
        let mut cfg = EvalConfig {
            samples_per_commit: samples,
            commits: commits.len(),
            ..EvalConfig::default()
        };
        if let Some(p) = max_p {
            cfg.detect.segments.max_p_value = p.parse()?;
        }
        let h = History {
            noise: v["noise"].as_f64().unwrap_or(0.0),
            shift_at: v["shift_at"].as_u64().map(|s| s as usize),
            shift_percent: v["shift_percent"].as_f64().unwrap_or(0.0),
            points,
        };
        let t = Instant::now();
        let a = alerts(&h, &cfg, mode);
        let seconds = t.elapsed().as_secs_f64();
        let line = json!({
            "samples": v["samples"], "noise": v["noise"], "id": v["id"],
            "alerts": a, "seconds": seconds,
        });
        writeln!(w, "{line}")?;
    }
    w.flush()?;
    Ok(())
}
