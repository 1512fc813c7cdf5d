//! `regressions` and `plot` on the real binary: explanations a person reads, units, kinds,
//! who may see which samples, and well-formed SVG whatever the text.

use serde_json::Value;
use std::process::{Command, Output};

fn northstar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_northstar"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn ok(args: &[&str]) -> String {
    let out = northstar(args);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?} failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Timestamp of run `i`: 2023-11-14T22:13:20Z plus `i` seconds.
fn at(i: usize) -> u64 {
    1_700_000_000_000_000_000 + i as u64 * 1_000_000_000
}

/// A perf sample as `record` reads it, stored at [`at`]`(i)`.
#[allow(clippy::too_many_arguments)]
fn sample(metric: &str, v: f64, unit: &str, i: usize, dims: &str, actor: u64, vis: &str) -> String {
    let (commit, t) = (format!("c{i:02}"), at(i));
    format!(
        r#"{{"event_type":"perf_sample","timestamp":{t},"actor_id":{actor},"visibility":"{vis}","payload":{{"metric_name":"{metric}","value":{v},"unit":"{unit}","dimensions":{{{dims}}},"correlation_hints":{{"commit_range":"{commit}","session_ids":[]}}}}}}"#
    ) + "\n"
}

/// 12 runs of one sample each; from run 8 on the level is multiplied by `factor`.
fn history(
    metric: &str,
    unit: &str,
    base: f64,
    factor: f64,
    dims: &str,
    actor: u64,
    vis: &str,
) -> String {
    let noise = [
        0.0, 0.01, -0.008, 0.004, -0.012, 0.007, -0.003, 0.009, -0.006, 0.002, -0.01, 0.005,
    ];
    (0..12)
        .map(|i| {
            let level = if i >= 8 { base * factor } else { base };
            sample(metric, level * (1.0 + noise[i]), unit, i, dims, actor, vis)
        })
        .collect()
}

fn store(lines: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("samples.jsonl");
    std::fs::write(&input, lines).unwrap();
    let data = dir.path().join("data").to_str().unwrap().to_string();
    ok(&["record", "--dir", &data, input.to_str().unwrap()]);
    (dir, data)
}

#[test]
fn each_regression_is_explained_in_one_line_with_direction_units_and_commits() {
    let mut s = history(
        "get_ops_per_sec",
        "ops/sec",
        6_000_000.0,
        0.5,
        r#""benchmark":"get""#,
        0,
        "public",
    );
    s += &history(
        "put_latency_ns",
        "ns",
        2_000_000.0,
        1.3,
        r#""benchmark":"put""#,
        0,
        "public",
    );
    s += &history("scan_ops_per_sec", "ops/sec", 1000.0, 3.0, "", 0, "public");
    let (_d, dd) = store(&s);
    let table = ok(&["regressions", "--dir", &dd]);
    // Throughput halved: "2.01x slower", values with units, the commits on both sides.
    let line = table
        .lines()
        .find(|l| l.starts_with("get_ops_per_sec{benchmark=get}:"))
        .unwrap_or_else(|| panic!("no explanation line: {table}"));
    for want in [
        "2.01x slower",
        "6.005M ops/sec -> 2.993M ops/sec",
        "between c07 (last before) and c08 (first after)",
        "noise ±",
        "runs after vs 8 before",
        "p ",
    ] {
        assert!(line.contains(want), "{want:?} missing in {line}");
    }
    let line = table
        .lines()
        .find(|l| l.starts_with("put_latency_ns{benchmark=put}:"))
        .unwrap_or_else(|| panic!("no explanation line: {table}"));
    assert!(
        line.contains("29.6% slower") && line.contains("2.002 ms -> 2.594 ms"),
        "{line}"
    );
    // A tripled throughput is an improvement, "3x faster", and its interval (of the value's
    // change) stays above -100%.
    let j: Vec<Value> = ok(&["regressions", "--dir", &dd, "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let scan = j
        .iter()
        .find(|o| o["metric_name"] == "scan_ops_per_sec")
        .unwrap();
    assert_eq!(scan["verdict"], "improvement");
    assert!(
        scan["explanation"].as_str().unwrap().contains("x faster"),
        "{scan}"
    );
    let ci = scan["ratio_ci"].as_array().unwrap();
    assert!(ci[0].as_f64().unwrap() > 0.0, "{scan}");
    let get = j
        .iter()
        .find(|o| o["metric_name"] == "get_ops_per_sec")
        .unwrap();
    assert_eq!(get["commit_before"], "c07");
    assert_eq!(get["commit_after"], "c08");
    assert_eq!(get["kind"], "throughput");
    // --until is inclusive: up to c07's sample (run 7), nothing has changed yet.
    let t = at(7).to_string();
    let j = ok(&[
        "regressions",
        "--dir",
        &dd,
        "--metric",
        "get_ops_per_sec",
        "--until",
        &t,
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_str(j.lines().next().unwrap()).unwrap();
    assert_eq!(v["verdict"], "no change", "{v}");
    let since = at(4).to_string();
    let j = ok(&[
        "regressions",
        "--dir",
        &dd,
        "--metric",
        "get_ops_per_sec",
        "--since",
        &since,
        "--until",
        &at(9).to_string(),
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_str(j.lines().next().unwrap()).unwrap();
    assert_eq!(v["samples"], 6, "{v}");
    let j = ok(&[
        "regressions",
        "--dir",
        &dd,
        "--metric",
        "get_ops_per_sec",
        "--until",
        &t,
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_str(j.lines().next().unwrap()).unwrap();
    assert_eq!(v["samples"], 8, "{v}");
}

#[test]
fn a_metric_kind_comes_from_the_samples_or_the_flag() {
    let mut s = history(
        "alloc_total",
        "count",
        100.0,
        1.5,
        r#""kind":"cost""#,
        0,
        "public",
    );
    s += &history("mystery", "", 100.0, 1.5, "", 0, "public");
    let (_d, dd) = store(&s);
    let j: Vec<Value> = ok(&["regressions", "--dir", &dd, "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let alloc = j
        .iter()
        .find(|o| o["metric_name"] == "alloc_total")
        .unwrap();
    assert_eq!(alloc["kind"], "cost");
    assert_eq!(
        alloc["dimensions"],
        serde_json::json!({}),
        "kind is not a dimension"
    );
    assert!(
        alloc["verdict"].as_str().unwrap().starts_with("regression"),
        "{alloc}"
    );
    let mystery = j.iter().find(|o| o["metric_name"] == "mystery").unwrap();
    assert_eq!(mystery["verdict"], "unknown kind");
    let j = ok(&[
        "regressions",
        "--dir",
        &dd,
        "--metric",
        "mystery",
        "--kind",
        "mystery=latency",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_str(j.lines().next().unwrap()).unwrap();
    assert_eq!(v["kind"], "latency");
    assert!(
        v["explanation"].as_str().unwrap().contains("49.5% slower"),
        "{v}"
    );
    let out = northstar(&["regressions", "--dir", &dd, "--kind", "mystery=fast"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown kind"));
}

#[test]
fn private_samples_reach_only_their_actor_in_regressions_and_plot() {
    let mut s = history("public_latency_ns", "ns", 100.0, 1.5, "", 0, "public");
    s += &history(
        "secret_latency_ns",
        "ns",
        100.0,
        1.5,
        r#""tenant":"hidden""#,
        7,
        "private",
    );
    let (d, dd) = store(&s);
    // No viewer: the operator's view, everything.
    let all = ok(&["regressions", "--dir", &dd]);
    assert!(
        all.contains("secret_latency_ns") && all.contains("hidden"),
        "{all}"
    );
    // Another actor sees none of actor 7's private samples, names or values.
    let other = ok(&["regressions", "--dir", &dd, "--viewer", "5"]);
    assert!(
        !other.contains("secret") && !other.contains("hidden"),
        "{other}"
    );
    assert!(other.contains("public_latency_ns"), "{other}");
    // Viewer 0 is not a wildcard.
    let zero = ok(&["regressions", "--dir", &dd, "--viewer", "0"]);
    assert!(!zero.contains("secret"), "{zero}");
    // The actor sees its own.
    let own = ok(&["regressions", "--dir", &dd, "--viewer", "7"]);
    assert!(own.contains("secret_latency_ns"), "{own}");
    // plot: the other viewer finds no samples of the private metric.
    let svg = d.path().join("p.svg");
    let out = northstar(&[
        "plot",
        "--dir",
        &dd,
        "--metric",
        "secret_latency_ns",
        "--viewer",
        "5",
        "--out",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!svg.exists());
    ok(&[
        "plot",
        "--dir",
        &dd,
        "--metric",
        "secret_latency_ns",
        "--viewer",
        "7",
        "--out",
        svg.to_str().unwrap(),
    ]);
    assert!(std::fs::read_to_string(&svg)
        .unwrap()
        .contains("tenant=hidden"));
}

#[test]
fn plot_svg_stays_well_formed_xml_whatever_the_text() {
    let hostile = r#""bench":"a\u001b]0;pwn\u0007<b>&\"\u0000""#;
    let s = history("odd_latency_ns", "ns", 100.0, 1.5, hostile, 0, "public");
    let (d, dd) = store(&s);
    let svg = d.path().join("odd.svg");
    ok(&[
        "plot",
        "--dir",
        &dd,
        "--metric",
        "odd_latency_ns",
        "--out",
        svg.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        !text
            .chars()
            .any(|c| (c as u32) < 0x20 && !"\t\n\r".contains(c)),
        "raw control characters"
    );
    assert!(
        text.contains(r"\x1b") && text.contains("&lt;b&gt;&amp;"),
        "{text}"
    );
    // Every tag closes: a strict parser accepts it.
    roxmltree_like_check(&text);
}

/// A small well-formedness check: tags nest and close, attribute values are quoted, and no
/// bare `<` or `&` appears in text.
fn roxmltree_like_check(xml: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find('<') {
        let text = &rest[..i];
        for (j, _) in text.match_indices('&') {
            let ent = &text[j..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#"]
                    .iter()
                    .any(|e| ent.starts_with(e)),
                "bare & in {text:?}"
            );
        }
        let end = rest[i..].find('>').expect("tag closes") + i;
        let tag = &rest[i + 1..end];
        if tag.starts_with('?') || tag.starts_with('!') {
        } else if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.trim()),
                "mismatched </{name}>"
            );
        } else if !tag.ends_with('/') {
            stack.push(tag.split_whitespace().next().unwrap().to_string());
        }
        assert!(!tag[1..].contains('<'), "< inside a tag: {tag}");
        rest = &rest[end + 1..];
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
}
