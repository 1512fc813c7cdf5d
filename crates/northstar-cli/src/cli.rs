//! The command line: every subcommand and flag, parsed by clap.
//!
//! clap's own usage errors are turned into one-line messages and exit status 2 by
//! [`crate::run`]; `--help` and `--version` exit 0.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Default data directory, shared by every subcommand.
pub const DEFAULT_DIR: &str = "./northstar-data";

/// northstar: record, store, query and check telemetry events.
#[derive(Debug, Parser)]
#[command(name = "northstar", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Output format of the listing commands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// An aligned table for people.
    #[default]
    Table,
    /// One JSON object per line, in the spec's event shape.
    Json,
}

/// Where `northstar export` sends events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// JSON lines for ClickHouse's `JSONEachRow` (`--schema` prints the table).
    #[default]
    Clickhouse,
    /// OpenTelemetry, OTLP/JSON: one request per line (traces, metrics or logs).
    Otlp,
    /// OpenTelemetry, protobuf: `--out PREFIX` gets PREFIX.traces.pb, .metrics.pb, .logs.pb,
    /// each a stream of length-delimited requests.
    OtlpProto,
    /// A Perfetto trace (protobuf) for ui.perfetto.dev.
    Perfetto,
    /// Apache Parquet (zstd): the ClickHouse rows' columns, the payload as a JSON string, one
    /// row group per type at a time, each sorted by time.
    Parquet,
}

/// Regression detection mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// The spec's fixed thresholds against the previous baseline.
    Spec,
    /// Flag only changes that stand out of the measured noise (the default).
    #[default]
    NoiseAware,
}

/// A severity band, for `--fail-on`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum FailOn {
    /// Any regression.
    Minor,
    /// Regressions of 20% or more.
    Moderate,
    /// Regressions over 50%.
    Severe,
}

/// The data directory.
#[derive(Debug, Args)]
pub struct DirArg {
    /// Data directory of the store.
    #[arg(long, default_value = DEFAULT_DIR, value_name = "DIR")]
    pub dir: PathBuf,
}

/// Event filters shared by `query` and `tail`.
#[derive(Debug, Args, Clone, Default)]
pub struct Filters {
    /// Only events of this type (repeatable), e.g. `--type perf_sample`.
    #[arg(long = "type", value_name = "T")]
    pub types: Vec<String>,
    /// Only events at or after this time: RFC 3339, Unix ns, `now`, or a relative time like
    /// 15m, 1h30m, 7d, -5s (that long ago).
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub since: Option<String>,
    /// Only events at or before this time (inclusive, like --since; same forms).
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub until: Option<String>,
    /// Only events of this actor (agent_id / actor_id).
    #[arg(long, value_name = "ID")]
    pub actor: Option<u64>,
    /// Only events of this session.
    #[arg(long, value_name = "ID")]
    pub session: Option<u64>,
    /// Show only what this actor may see: public events, its own, and team events of its team
    /// (private and team events recorded without an actor are visible to no actor, not even
    /// to viewer 0). Without --viewer: the operator's view, every event.
    #[arg(long, value_name = "ID")]
    pub viewer: Option<u64>,
    /// Only user-defined events with this field value (repeatable), e.g. `--field depth=3`.
    #[arg(long = "field", value_name = "NAME=VALUE")]
    pub fields: Vec<String>,
}

/// Which perf samples `regressions` and `plot` read, and as whom.
#[derive(Debug, Args, Clone, Default)]
pub struct PerfWindow {
    /// Only samples stored at or after this time: RFC 3339, Unix ns, or an age like 15m, 7d.
    #[arg(long, value_name = "T")]
    pub since: Option<String>,
    /// Only samples stored at or before this time (inclusive; same forms as --since).
    #[arg(long, value_name = "T")]
    pub until: Option<String>,
    /// Read as this actor: public samples, its own private ones and its team's team ones
    /// (as `query --viewer`). Without it, the operator's view: every sample.
    #[arg(long, value_name = "ID")]
    pub viewer: Option<u64>,
    /// A metric's kind, overriding the kind recorded with its samples or inferred from its
    /// name and unit (repeatable): METRIC=KIND, KIND one of throughput, latency, p99,
    /// error_rate, cost.
    #[arg(long = "kind", value_name = "METRIC=KIND")]
    pub kinds: Vec<String>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an instrumented key-value store workload and report what was recorded.
    Demo {
        #[command(flatten)]
        #[allow(missing_docs)]
        dir: DirArg,
        /// Worker threads.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
        threads: u32,
        /// How long the workload runs, in seconds.
        #[arg(long, default_value_t = 3.0, value_name = "SECS")]
        duration: f64,
    },
    /// List stored events.
    Query {
        #[command(flatten)]
        #[allow(missing_docs)]
        dir: DirArg,
        #[command(flatten)]
        #[allow(missing_docs)]
        filters: Filters,
        /// At most this many events (the earliest ones).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Record events given as JSON lines (the shape `query --format json` prints).
    ///
    /// User-defined events (an `event_type` with a '.' or ':', like kv.wal_sync) are
    /// accepted too: their field types come from an optional "types" object
    /// ({"bytes": "u64", "note": "str?", "unit": "const"}) or from the values of all their
    /// lines (see the crate's README, "User-defined events").
    Record {
        #[command(flatten)]
        #[allow(missing_docs)]
        dir: DirArg,
        /// File of JSON lines, or `-` for standard input.
        #[arg(default_value = "-", value_name = "FILE|-")]
        file: String,
        /// Start at this line of the input (counting from 1): resumes a run that stopped
        /// part-way, as its error message says.
        #[arg(long, value_name = "LINE")]
        from_line: Option<usize>,
    },
    /// Export events: ClickHouse rows, OpenTelemetry (OTLP) or a Perfetto timeline, streamed in
    /// store order.
    Export {
        #[command(flatten)]
        #[allow(missing_docs)]
        dir: DirArg,
        #[command(flatten)]
        #[allow(missing_docs)]
        filters: Filters,
        /// Target format.
        #[arg(long, value_enum, default_value_t)]
        format: ExportFormat,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
        /// Items (spans, points, log records) per OTLP request.
        #[arg(long, default_value_t = 1000, value_name = "N")]
        batch: usize,
        /// Print the ClickHouse table definition the rows fit, and nothing else.
        #[arg(long)]
        schema: bool,
    },
    /// Ship events to an OpenTelemetry collector (OTLP/HTTP) or a ClickHouse table, following
    /// the store as it grows (or `--once`), resuming from a cursor after a crash.
    Ship {
        #[command(flatten)]
        #[allow(missing_docs)]
        dir: DirArg,
        #[command(flatten)]
        #[allow(missing_docs)]
        filters: Filters,
        /// OTLP/HTTP endpoint, e.g. http://127.0.0.1:4318 (protobuf to /v1/traces, /v1/metrics, /v1/logs).
        #[arg(long, value_name = "URL", conflicts_with = "clickhouse")]
        otlp: Option<String>,
        /// ClickHouse HTTP interface, e.g. http://127.0.0.1:8123.
        #[arg(long, value_name = "URL", requires = "table")]
        clickhouse: Option<String>,
        /// ClickHouse table (made from `export --schema`, or an older server's simpler layout).
        #[arg(long, value_name = "NAME")]
        table: Option<String>,
        /// Send what is there and exit when caught up.
        #[arg(long)]
        once: bool,
        /// Cursor file (default: beside the data directory, named after the destination).
        #[arg(long, value_name = "FILE")]
        cursor: Option<PathBuf>,
        /// Items (OTLP) or rows (ClickHouse) per batch.
        #[arg(long, default_value_t = 2000, value_name = "N")]
        batch: usize,
        /// Encoded bytes per batch.
        #[arg(long, default_value_t = 4 << 20, value_name = "BYTES")]
        batch_bytes: usize,
        /// Poll interval when following, in milliseconds.
        #[arg(long, default_value_t = 500, value_name = "MS")]
        poll_ms: u64,
        /// Give up after retrying a destination for this many seconds.
        #[arg(long, default_value_t = 300, value_name = "SECS")]
        retry_for: u64,
    },
    /// Follow new events as they are flushed.
    Tail {
        #[command(flatten)]
        #[allow(missing_docs)]
        dir: DirArg,
        #[command(flatten)]
        #[allow(missing_docs)]
        filters: Filters,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        /// Poll interval in milliseconds.
        #[arg(long, default_value_t = 200, value_name = "MS")]
        interval_ms: u64,
        /// Stop after this many seconds (default: follow until interrupted).
        #[arg(long, value_name = "SECS")]
        duration: Option<f64>,
    },
    /// Segments, bytes, time span, events per type, events dropped and when.
    Stats {
        #[command(flatten)]
        #[allow(missing_docs)]
        dir: DirArg,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        /// Count only the events this actor may see (the same rule as `query --viewer`).
        /// Without --viewer: the operator's view, every event.
        #[arg(long, value_name = "ID")]
        viewer: Option<u64>,
    },
    /// Check every block; list every damaged region. Exit 1 if any.
    Verify {
        #[command(flatten)]
        #[allow(missing_docs)]
        dir: DirArg,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Delete sealed segments older than the retention period.
    Compact {
        #[command(flatten)]
        #[allow(missing_docs)]
        dir: DirArg,
        /// Retention period, e.g. 7d, 12h.
        #[arg(long, default_value = "7d", value_name = "AGE")]
        retention: String,
    },
    /// Record criterion benchmark results as perf samples.
    IngestCriterion {
        #[command(flatten)]
        #[allow(missing_docs)]
        dir: DirArg,
        /// Criterion's output directory.
        #[arg(long, value_name = "DIR", conflicts_with = "messages")]
        criterion_dir: Option<PathBuf>,
        /// A file of criterion's `--message-format=json` output.
        #[arg(long, value_name = "FILE")]
        messages: Option<PathBuf>,
        /// Commit the results belong to.
        #[arg(long, value_name = "SHA")]
        commit: Option<String>,
    },
    /// Detect performance regressions in the stored perf samples.
    Regressions {
        #[command(flatten)]
        #[allow(missing_docs)]
        dir: DirArg,
        /// Only this metric: a perf sample's metric name, or a numeric field of a user-defined
        /// event as EVENT.FIELD (kv.wal_sync.duration_ns), split into one series per value of
        /// string fields of the same event with EVENT.FIELD{FIELD,...}.
        #[arg(long, value_name = "M")]
        metric: Option<String>,
        #[command(flatten)]
        #[allow(missing_docs)]
        window: PerfWindow,
        /// Threshold in percent (default: the spec's per-metric thresholds).
        #[arg(long, value_name = "PERCENT")]
        threshold: Option<f64>,
        /// Detection mode.
        #[arg(long, value_enum, default_value_t)]
        mode: Mode,
        /// Exit 1 when a regression of this severity or worse is found.
        #[arg(long, value_enum, value_name = "SEVERITY")]
        fail_on: Option<FailOn>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Plot a metric's history as SVG or PNG.
    Plot {
        #[command(flatten)]
        #[allow(missing_docs)]
        dir: DirArg,
        /// The metric to plot: a perf sample's metric name, or a numeric field of a
        /// user-defined event as EVENT.FIELD (kv.wal_sync.duration_ns), one line per value of
        /// string fields of the same event with EVENT.FIELD{FIELD,...}.
        #[arg(long, value_name = "M")]
        metric: String,
        #[command(flatten)]
        #[allow(missing_docs)]
        window: PerfWindow,
        /// Output file: an SVG (FILE.svg) or a PNG image (FILE.png), by its extension.
        #[arg(long, value_name = "FILE.svg|FILE.png")]
        out: PathBuf,
    },
    /// Store a firmware's link stream (northstar-link frames from a UART) as events.
    Ingest {
        #[command(flatten)]
        #[allow(missing_docs)]
        dir: DirArg,
        /// The device's stream: a file or serial device, or `-` for standard input.
        #[arg(long, value_name = "PATH|-")]
        from_serial: String,
        /// The device clock's ticks per second (default: the rate the device announces; a
        /// different one is an error).
        #[arg(long, value_name = "N")]
        hz: Option<u64>,
        /// Unix time in ns at which the device's clock read 0 (default: the device's, or the
        /// time ingest starts when the device has no wall clock).
        #[arg(long, value_name = "NS")]
        epoch_ns: Option<u64>,
        /// Output format of the summary.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}
