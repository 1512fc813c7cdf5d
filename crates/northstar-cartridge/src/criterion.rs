//! Criterion output, parsed without the store: the JSON lines of
//! `cargo criterion --message-format=json`, and criterion's own
//! `target/criterion/<id>/new/{benchmark,estimates,sample}.json`.
//!
//! Both are read strictly: a field this code does not know, or a value of a shape it does not
//! expect, is reported as [`CriterionError::UnknownLayout`] naming the file, so a newer
//! criterion's layout is detected rather than misread.

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Why criterion output could not be read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum CriterionError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file (or line) is not JSON.
    #[error("{path}{}: not valid JSON: {source}", line_suffix(*.line))]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line, for message streams.
        line: Option<usize>,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A file of the benchmark's directory is missing.
    #[error("{path} is missing (a criterion benchmark directory has benchmark.json, estimates.json and sample.json)")]
    Missing {
        /// The missing file.
        path: PathBuf,
    },
    /// Valid JSON, but not in a layout this build understands (probably a newer criterion).
    #[error("{path}{}: unknown criterion layout: {detail}", line_suffix(*.line))]
    UnknownLayout {
        /// The file.
        path: PathBuf,
        /// 1-based line, for message streams.
        line: Option<usize>,
        /// What differs.
        detail: String,
    },
    /// Known layout, impossible values (zero iterations, mismatched lengths, negative times).
    #[error("{path}{}: invalid criterion data: {detail}", line_suffix(*.line))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line, for message streams.
        line: Option<usize>,
        /// What is wrong.
        detail: String,
    },
    /// Nothing to ingest.
    #[error("{path}: no criterion benchmarks found ({hint})")]
    NoBenchmarks {
        /// The file or directory.
        path: PathBuf,
        /// What was looked for.
        hint: String,
    },
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|l| format!(" line {l}")).unwrap_or_default()
}

/// Work declared per iteration (`Throughput` in criterion; its serde form, an externally
/// tagged enum, is how benchmark.json writes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Throughput {
    /// Bytes per iteration.
    Bytes(u64),
    /// Bytes per iteration, reported in decimal units.
    BytesDecimal(u64),
    /// Elements per iteration.
    Elements(u64),
    /// Bits per iteration (criterion 0.6+).
    Bits(u64),
    /// Elements and bytes per iteration (criterion 0.6+).
    ElementsAndBytes {
        /// Elements per iteration.
        elements: u64,
        /// Bytes per iteration.
        bytes: u64,
    },
}

impl Throughput {
    /// The primary quantity per iteration and its rate unit.
    pub fn per_iteration(self) -> (u64, &'static str) {
        match self {
            Self::Bytes(n) | Self::BytesDecimal(n) => (n, "bytes/sec"),
            Self::Elements(n) | Self::ElementsAndBytes { elements: n, .. } => (n, "elements/sec"),
            Self::Bits(n) => (n, "bits/sec"),
        }
    }
}

/// A point estimate with its confidence interval, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// Point estimate.
    pub estimate: f64,
    /// Lower bound of the interval.
    pub lower: f64,
    /// Upper bound of the interval.
    pub upper: f64,
}

/// One benchmark's result, whichever format it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Benchmark {
    /// Full id, e.g. `btree/point_get/100`.
    pub id: String,
    /// Group, e.g. `btree` (for a lone `bench_function`, the id itself).
    pub group: String,
    /// Function id within the group, if any.
    pub function: Option<String>,
    /// Parameter, if any.
    pub parameter: Option<String>,
    /// Work per iteration, if declared.
    pub throughput: Option<Throughput>,
    /// Per-iteration time of each sample, nanoseconds (sample time / iterations).
    pub per_iter_ns: Vec<f64>,
    /// Criterion's estimate of the mean time per iteration, if given.
    pub mean_ns: Option<Estimate>,
    /// Where it was read from.
    pub source: PathBuf,
}

/// Result of parsing a `--message-format=json` stream.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Messages {
    /// Completed benchmarks, in stream order.
    pub benchmarks: Vec<Benchmark>,
    /// Messages with a `reason` this build does not know (a newer cargo-criterion), counted by
    /// reason, skipped.
    pub unknown_reasons: Vec<(String, usize)>,
}

struct Ctx<'p> {
    path: &'p Path,
    line: Option<usize>,
}

impl Ctx<'_> {
    fn layout(&self, detail: impl Into<String>) -> CriterionError {
        CriterionError::UnknownLayout {
            path: self.path.to_path_buf(),
            line: self.line,
            detail: detail.into(),
        }
    }
    fn invalid(&self, detail: impl Into<String>) -> CriterionError {
        CriterionError::Invalid {
            path: self.path.to_path_buf(),
            line: self.line,
            detail: detail.into(),
        }
    }
    /// Reads `v` as `T`; a shape `T` does not describe is an unknown layout (`what` names the
    /// part of the file).
    fn read<'v, T: Deserialize<'v>>(&self, v: &'v Value, what: &str) -> Result<T, CriterionError> {
        T::deserialize(v).map_err(|e| self.layout(format!("{what}: {e}")))
    }
    fn per_iter(&self, iters: &[f64], times: &[f64]) -> Result<Vec<f64>, CriterionError> {
        if iters.len() != times.len() {
            return Err(self.invalid(format!(
                "{} iteration counts but {} times",
                iters.len(),
                times.len()
            )));
        }
        if iters.is_empty() {
            return Err(self.invalid("no samples"));
        }
        iters
            .iter()
            .zip(times)
            .map(|(&n, &t)| {
                if !(n.is_finite() && n >= 1.0) {
                    Err(self.invalid(format!("iteration count {n} is not a positive number")))
                } else if !(t.is_finite() && t >= 0.0) {
                    Err(self.invalid(format!("sample time {t} is not a non-negative number")))
                } else {
                    Ok(t / n)
                }
            })
            .collect()
    }
}

/// `benchmark.json`. Unknown fields are refused: a field we do not know may change the meaning
/// of the rest.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BenchmarkFile {
    group_id: String,
    #[serde(default)]
    function_id: Option<String>,
    #[serde(default)]
    value_str: Option<String>,
    #[serde(default)]
    throughput: Option<Throughput>,
    full_id: String,
    #[serde(default)]
    #[allow(dead_code)]
    directory_name: Option<IgnoredAny>,
    #[serde(default)]
    #[allow(dead_code)]
    title: Option<IgnoredAny>,
}

/// `sample.json`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SampleFile {
    sampling_mode: String,
    iters: Vec<f64>,
    times: Vec<f64>,
}

/// `estimates.json`: only the mean is used.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct EstimatesFile {
    mean: MeanEstimate,
    #[serde(default)]
    median: Option<IgnoredAny>,
    #[serde(default)]
    median_abs_dev: Option<IgnoredAny>,
    #[serde(default)]
    slope: Option<IgnoredAny>,
    #[serde(default)]
    std_dev: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct MeanEstimate {
    confidence_interval: Interval,
    point_estimate: f64,
    #[serde(default)]
    standard_error: Option<IgnoredAny>,
}

/// A confidence interval (its `confidence_level` is not used).
#[derive(Deserialize)]
struct Interval {
    lower_bound: f64,
    upper_bound: f64,
}

/// A message's `reason`, which decides how the rest is read.
#[derive(Deserialize)]
struct Reason {
    reason: String,
}

/// The `benchmark-complete` message (fields not listed here are not used).
#[derive(Deserialize)]
struct BenchmarkComplete {
    id: String,
    unit: String,
    iteration_count: Vec<f64>,
    measured_values: Vec<f64>,
    throughput: Vec<MessageThroughput>,
    #[serde(default)]
    mean: Option<MessageEstimate>,
}

#[derive(Deserialize)]
struct MessageThroughput {
    per_iteration: u64,
    unit: String,
}

#[derive(Deserialize)]
struct MessageEstimate {
    estimate: f64,
    lower_bound: f64,
    upper_bound: f64,
    unit: String,
}

/// The `group-complete` message.
#[derive(Deserialize)]
struct GroupComplete {
    group_name: String,
    benchmarks: Vec<String>,
}

/// Reads one benchmark from its `new/` directory (holding benchmark.json, estimates.json,
/// sample.json).
pub fn read_benchmark_dir(new_dir: &Path) -> Result<Benchmark, CriterionError> {
    let read = |name: &str| {
        let path = new_dir.join(name);
        std::fs::read(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                CriterionError::Missing { path }
            } else {
                CriterionError::Io { path, source }
            }
        })
    };
    let (b, e, s) = (
        read("benchmark.json")?,
        read("estimates.json")?,
        read("sample.json")?,
    );
    parse_benchmark_files(new_dir, &b, &e, &s)
}

fn parse_json(path: &Path, bytes: &[u8]) -> Result<Value, CriterionError> {
    serde_json::from_slice(bytes).map_err(|source| CriterionError::Json {
        path: path.to_path_buf(),
        line: None,
        source,
    })
}

/// Parses the three files of one benchmark's `new/` directory from bytes; `new_dir` names them
/// in errors.
pub fn parse_benchmark_files(
    new_dir: &Path,
    benchmark_json: &[u8],
    estimates_json: &[u8],
    sample_json: &[u8],
) -> Result<Benchmark, CriterionError> {
    let bench_path = new_dir.join("benchmark.json");
    let sample_path = new_dir.join("sample.json");
    let est_path = new_dir.join("estimates.json");
    let bench = parse_json(&bench_path, benchmark_json)?;
    let sample = parse_json(&sample_path, sample_json)?;
    let est = parse_json(&est_path, estimates_json)?;

    let c = Ctx {
        path: &bench_path,
        line: None,
    };
    let b: BenchmarkFile = c.read(&bench, "benchmark.json")?;
    let (group, id, function, parameter, throughput) = (
        b.group_id,
        b.full_id,
        b.function_id,
        b.value_str,
        b.throughput,
    );

    let c = Ctx {
        path: &sample_path,
        line: None,
    };
    let s: SampleFile = c.read(&sample, "sample.json")?;
    let mode = s.sampling_mode;
    if mode != "Linear" && mode != "Flat" {
        return Err(c.layout(format!("sampling_mode `{mode}` is not Linear or Flat")));
    }
    let per_iter_ns = c.per_iter(&s.iters, &s.times)?;

    let c = Ctx {
        path: &est_path,
        line: None,
    };
    let e: EstimatesFile = c.read(&est, "estimates.json")?;
    let mean_ns = Some(Estimate {
        estimate: e.mean.point_estimate,
        lower: e.mean.confidence_interval.lower_bound,
        upper: e.mean.confidence_interval.upper_bound,
    });

    Ok(Benchmark {
        id,
        group,
        function,
        parameter,
        throughput,
        per_iter_ns,
        mean_ns,
        source: new_dir.to_path_buf(),
    })
}

/// Reads every benchmark under `root` (normally `target/criterion`): each `new/` directory
/// holding a `benchmark.json`, in path order. `root` may also be one benchmark's directory.
pub fn read_criterion_dir(root: &Path) -> Result<Vec<Benchmark>, CriterionError> {
    let mut found = Vec::new();
    walk(root, &mut found)?;
    found.sort();
    if found.is_empty() {
        let hint = if root.join("data").is_dir() && root.join("reports").is_dir() {
            "this looks like cargo-criterion's own store, which is private to it: \
             ingest the output of `cargo criterion --message-format=json` instead"
        } else {
            "looked for <id>/new/benchmark.json"
        };
        return Err(CriterionError::NoBenchmarks {
            path: root.to_path_buf(),
            hint: hint.into(),
        });
    }
    found.iter().map(|d| read_benchmark_dir(d)).collect()
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), CriterionError> {
    let io = |source| CriterionError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let entries = std::fs::read_dir(dir).map_err(io)?;
    for entry in entries {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        if !entry.file_type().map_err(io)?.is_dir() {
            continue;
        }
        let name = entry.file_name();
        if name == "new" {
            if path.join("benchmark.json").is_file() {
                found.push(path);
            }
        } else if name != "base" && name != "change" && name != "report" {
            walk(&path, found)?;
        }
    }
    Ok(())
}

/// Parses the JSON lines of `cargo criterion --message-format=json`. `path` names the source
/// in errors. Blank lines are ignored; any other line must be a JSON message.
pub fn parse_messages(text: &str, path: &Path) -> Result<Messages, CriterionError> {
    let mut out = Messages::default();
    let mut group_of: Vec<(String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let c = Ctx {
            path,
            line: Some(i + 1),
        };
        let v: Value = serde_json::from_str(line).map_err(|source| CriterionError::Json {
            path: path.to_path_buf(),
            line: Some(i + 1),
            source,
        })?;
        let Reason { reason } = c.read(&v, "message")?;
        match reason.as_str() {
            "benchmark-complete" => out.benchmarks.push(benchmark_complete(&c, &v)?),
            "group-complete" => {
                let g: GroupComplete = c.read(&v, "group-complete")?;
                for id in g.benchmarks {
                    group_of.push((id, g.group_name.clone()));
                }
            }
            other => match out.unknown_reasons.iter_mut().find(|(r, _)| r == other) {
                Some((_, n)) => *n += 1,
                None => out.unknown_reasons.push((other.to_string(), 1)),
            },
        }
    }
    for b in &mut out.benchmarks {
        if let Some((_, g)) = group_of.iter().find(|(id, _)| *id == b.id) {
            b.group = g.clone();
        }
    }
    if out.benchmarks.is_empty() {
        return Err(CriterionError::NoBenchmarks {
            path: path.to_path_buf(),
            hint: "no `benchmark-complete` message".into(),
        });
    }
    Ok(out)
}

/// Nanoseconds per unit of the time units cargo-criterion emits.
fn ns_per(unit: &str) -> Option<f64> {
    Some(match unit {
        "ps" => 1e-3,
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => return None,
    })
}

fn benchmark_complete(c: &Ctx<'_>, v: &Value) -> Result<Benchmark, CriterionError> {
    let m: BenchmarkComplete = c.read(v, "benchmark-complete")?;
    let (id, unit) = (m.id, m.unit);
    let scale =
        ns_per(&unit).ok_or_else(|| c.layout(format!("unit `{unit}` is not a time unit")))?;
    let times: Vec<f64> = m.measured_values.iter().map(|t| t * scale).collect();
    let per_iter_ns = c.per_iter(&m.iteration_count, &times)?;
    let throughput = match m.throughput.first() {
        None => None,
        Some(t) => {
            let n = t.per_iteration;
            Some(match t.unit.as_str() {
                "bytes" => Throughput::Bytes(n),
                "elements" => Throughput::Elements(n),
                "bits" => Throughput::Bits(n),
                other => return Err(c.layout(format!("throughput unit `{other}` is unknown"))),
            })
        }
    };
    let mean_ns = match m.mean {
        None => None,
        Some(e) => {
            let u = e.unit;
            let s = ns_per(&u)
                .ok_or_else(|| c.layout(format!("mean unit `{u}` is not a time unit")))?;
            Some(Estimate {
                estimate: e.estimate * s,
                lower: e.lower_bound * s,
                upper: e.upper_bound * s,
            })
        }
    };
    let group = id.split('/').next().unwrap_or(&id).to_string();
    Ok(Benchmark {
        id,
        group,
        function: None,
        parameter: None,
        throughput,
        per_iter_ns,
        mean_ns,
        source: c.path.to_path_buf(),
    })
}

/// The fuzz target `criterion_json` (and its seed replay test): `data` is tried as a
/// `--message-format=json` stream, and, split at NUL bytes, as the benchmark, estimates and
/// sample files of one directory (missing parts filled from a valid run). Never panics;
/// whatever is accepted holds only finite, non-negative per-iteration times.
pub fn fuzz_criterion_json(data: &[u8]) {
    const BENCH: &[u8] = br#"{"group_id":"g","function_id":null,"value_str":null,"throughput":null,"full_id":"g","directory_name":"g","title":"g"}"#;
    const EST: &[u8] = br#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0},"point_estimate":1.5,"standard_error":0.1}}"#;
    const SAMPLE: &[u8] = br#"{"sampling_mode":"Linear","iters":[1.0,2.0],"times":[3.0,6.0]}"#;
    let check = |b: &Benchmark| {
        assert!(!b.per_iter_ns.is_empty());
        assert!(
            b.per_iter_ns.iter().all(|t| t.is_finite() && *t >= 0.0),
            "{b:?}"
        );
    };
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(m) = parse_messages(text, Path::new("fuzz.jsonl")) {
            m.benchmarks.iter().for_each(check);
        }
    }
    let mut parts = data.split(|&b| b == 0);
    let b = parts.next().unwrap_or(BENCH);
    let e = parts.next().unwrap_or(EST);
    let s = parts.next().unwrap_or(SAMPLE);
    for (b, e, s) in [
        (b, e, s),
        (b, EST, SAMPLE),
        (BENCH, b, SAMPLE),
        (BENCH, EST, b),
    ] {
        if let Ok(bench) = parse_benchmark_files(Path::new("fuzz/new"), b, e, s) {
            check(&bench);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file_and_line() {
        let e = parse_messages(
            "{\"reason\":\"benchmark-complete\"}\n",
            Path::new("m.jsonl"),
        )
        .unwrap_err();
        let s = e.to_string();
        assert!(s.contains("m.jsonl line 1") && s.contains("`id`"), "{s}");
        let e = parse_messages("\nnot json\n", Path::new("m.jsonl")).unwrap_err();
        assert!(
            matches!(e, CriterionError::Json { line: Some(2), .. }),
            "{e}"
        );
    }

    #[test]
    fn unknown_reasons_are_counted_not_misread() {
        let text = "{\"reason\":\"benchmark-complete\",\"id\":\"a\",\"unit\":\"us\",\"iteration_count\":[1,2],\"measured_values\":[1.0,4.0],\"throughput\":[]}\n{\"reason\":\"future-thing\"}\n{\"reason\":\"future-thing\"}\n";
        let m = parse_messages(text, Path::new("x")).unwrap();
        assert_eq!(m.unknown_reasons, vec![("future-thing".to_string(), 2)]);
        assert_eq!(m.benchmarks[0].per_iter_ns, vec![1000.0, 2000.0]);
        assert_eq!(m.benchmarks[0].group, "a");
    }

    #[test]
    fn impossible_values_are_invalid() {
        let text = "{\"reason\":\"benchmark-complete\",\"id\":\"a\",\"unit\":\"ns\",\"iteration_count\":[0],\"measured_values\":[1.0],\"throughput\":[]}";
        assert!(matches!(
            parse_messages(text, Path::new("x")),
            Err(CriterionError::Invalid { .. })
        ));
        let text = "{\"reason\":\"benchmark-complete\",\"id\":\"a\",\"unit\":\"ns\",\"iteration_count\":[1,2],\"measured_values\":[1.0],\"throughput\":[]}";
        assert!(matches!(
            parse_messages(text, Path::new("x")),
            Err(CriterionError::Invalid { .. })
        ));
        let text = "{\"reason\":\"benchmark-complete\",\"id\":\"a\",\"unit\":\"furlongs\",\"iteration_count\":[1],\"measured_values\":[1.0],\"throughput\":[]}";
        assert!(matches!(
            parse_messages(text, Path::new("x")),
            Err(CriterionError::UnknownLayout { .. })
        ));
    }

    #[test]
    fn derived_readers_refuse_unknown_fields_and_wrong_types_naming_them() {
        let bench = br#"{"group_id":"g","function_id":null,"value_str":null,"throughput":{"Bytes":64},"full_id":"g/f","directory_name":"g","title":"g"}"#;
        let est = br#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0},"point_estimate":1.5,"standard_error":0.1}}"#;
        let sample = br#"{"sampling_mode":"Linear","iters":[1.0,2.0],"times":[3.0,6.0]}"#;
        let ok = parse_benchmark_files(Path::new("d"), bench, est, sample).unwrap();
        assert_eq!(ok.throughput, Some(Throughput::Bytes(64)));
        assert_eq!(ok.per_iter_ns, vec![3.0, 3.0]);
        assert_eq!(ok.mean_ns.map(|m| m.estimate), Some(1.5));
        let unknown = br#"{"sampling_mode":"Linear","iters":[1.0],"times":[3.0],"weights":[1]}"#;
        let e = parse_benchmark_files(Path::new("d"), bench, est, unknown).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, CriterionError::UnknownLayout { .. }), "{text}");
        assert!(
            text.contains("sample.json") && text.contains("`weights`"),
            "{text}"
        );
        let wrong = br#"{"sampling_mode":"Linear","iters":["1"],"times":[3.0]}"#;
        let e = parse_benchmark_files(Path::new("d"), bench, est, wrong).unwrap_err();
        assert!(matches!(e, CriterionError::UnknownLayout { .. }), "{e}");
        let kind = br#"{"group_id":"g","throughput":{"Furlongs":1},"full_id":"g"}"#;
        let e = parse_benchmark_files(Path::new("d"), kind, est, sample).unwrap_err();
        assert!(e.to_string().contains("Furlongs"), "{e}");
    }
}
