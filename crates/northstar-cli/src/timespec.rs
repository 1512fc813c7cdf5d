//! Times on the command line and in tables: RFC 3339, Unix nanoseconds, `now`, and relative
//! times like `15m`, `1h30m` or `-5s`. Parsing and printing are jiff's; this module only says
//! which forms the tool accepts and what a relative time means.

use jiff::{SignedDuration, Span, SpanRelativeTo, Timestamp};
use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch now.
pub fn now_unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

const FORMS: &str =
    "expected RFC 3339, Unix nanoseconds, `now`, or a relative time like 15m, 1h30m, 7d, -5s";

/// Parses a time given on the command line, relative to `now` (Unix ns):
/// - Unix nanoseconds: `1704067200000000000`
/// - RFC 3339: `2024-01-01T00:00:00Z`, `2024-01-01T01:00:00.5+01:00`
/// - `now`
/// - a relative time, meaning that long before `now`: `30s`, `15m`, `1h30m`, `7d`, `1w`,
///   `500ms`, or with a sign, `-5s` (5 seconds ago, the same as `5s`) and `+1h` (an hour from
///   now). Units: ns, us, ms, s, m, h, d (24 hours), w (7 days), and jiff's longer names
///   (`1 hour 30 minutes`, `5s ago`).
pub fn parse_time(s: &str, now: u64) -> Result<u64, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty time".into());
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<u64>()
            .map_err(|_| format!("time {s:?}: Unix nanoseconds out of range"));
    }
    if s.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if let Ok(ts) = s.parse::<Timestamp>() {
        return unix_ns(ts).map_err(|e| format!("time {s:?}: {e}"));
    }
    match parse_span_ns(s) {
        Some(Ok(d)) => {
            // Unsigned and `-`: that long ago. `+`: that long ahead.
            let ahead = s.starts_with('+');
            let magnitude = d.unsigned_abs();
            let t = if ahead {
                u128::from(now).checked_add(magnitude)
            } else {
                u128::from(now).checked_sub(magnitude).or(Some(0))
            };
            t.and_then(|t| u64::try_from(t).ok())
                .ok_or_else(|| format!("time {s:?}: after year 2554, out of range"))
        }
        Some(Err(e)) => Err(format!("time {s:?}: {e}")),
        None => Err(format!(
            "time {s:?}: {}",
            rfc3339_error(s).unwrap_or_else(|| FORMS.into())
        )),
    }
}

/// Parses a duration such as `7d`, `90s` or `1h30m` into nanoseconds (for `--retention`).
pub fn parse_duration_ns(s: &str) -> Result<u64, String> {
    let t = s.trim();
    match parse_span_ns(t) {
        Some(Ok(d)) if d >= 0 => {
            u64::try_from(d).map_err(|_| format!("duration {s:?}: out of range"))
        }
        Some(Ok(_)) => Err(format!("duration {s:?}: must not be negative")),
        Some(Err(e)) => Err(format!("duration {s:?}: {e}")),
        None => Err(format!(
            "duration {s:?}: expected a number and a unit (ns, us, ms, s, m, h, d, w), like 7d or 1h30m"
        )),
    }
}

/// `None` when `s` is not a span at all; else its length in nanoseconds (signed), or why it
/// cannot be one (a calendar unit like months or years, whose length depends on the date).
fn parse_span_ns(s: &str) -> Option<Result<i128, String>> {
    let span: Span = match s.parse() {
        Ok(span) => span,
        // jiff names years and months but refuses them without a date: say so.
        Err(_) if looks_like_calendar_span(s) => return Some(Err(
            "unknown unit: years and months have no fixed length (use ns, us, ms, s, m, h, d, w)"
                .into(),
        )),
        Err(_) => return None,
    };
    Some(
        span.to_duration(SpanRelativeTo::days_are_24_hours())
            .map(|d: SignedDuration| d.as_nanos())
            .map_err(|_| {
                "unknown unit: years and months have no fixed length (use ns, us, ms, s, m, h, d, w)"
                    .to_string()
            }),
    )
}

fn looks_like_calendar_span(s: &str) -> bool {
    let t = s.trim_start_matches(['+', '-']);
    t.starts_with(|c: char| c.is_ascii_digit())
        && t.trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start()
            .starts_with(['y', 'M', 'o'])
}

fn unix_ns(ts: Timestamp) -> Result<u64, String> {
    u64::try_from(ts.as_nanosecond()).map_err(|_| {
        if ts.as_nanosecond() < 0 {
            "before 1970".to_string()
        } else {
            "after year 2554, out of range".to_string()
        }
    })
}

/// A short reason why `s`, which looks like a date, is not a valid RFC 3339 time.
fn rfc3339_error(s: &str) -> Option<String> {
    s.starts_with(|c: char| c.is_ascii_digit())
        .then(|| s.parse::<Timestamp>().err())
        .flatten()
        .map(|e| format!("{e} ({FORMS})"))
}

/// Parses an RFC 3339 time with a UTC offset (`2024-01-01T00:00:00Z`,
/// `2024-01-01T01:00:00.5+01:00`) into Unix nanoseconds. The flags parse through
/// [`parse_time`]; this is the inverse of [`format_rfc3339`] the tests check it against.
#[cfg(test)]
pub fn parse_rfc3339(s: &str) -> Result<u64, String> {
    let ts: Timestamp = s.parse().map_err(|e: jiff::Error| e.to_string())?;
    unix_ns(ts)
}

/// Formats Unix nanoseconds as RFC 3339 UTC with nanoseconds: `2024-01-01T00:00:00.000000000Z`.
pub fn format_rfc3339(ns: u64) -> String {
    match Timestamp::from_nanosecond(i128::from(ns)) {
        Ok(ts) => format!("{ts:.9}"),
        // Every u64 of nanoseconds (up to 2554) is in jiff's range; never reached.
        Err(_) => ns.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAN_2024: u64 = 1_704_067_200_000_000_000;

    #[test]
    fn unix_nanoseconds_pass_through() {
        assert_eq!(parse_time("1704067200000000000", 0), Ok(JAN_2024));
        assert!(parse_time("99999999999999999999999", 0).is_err());
    }

    #[test]
    fn rfc3339_with_offsets_and_fractions() {
        assert_eq!(parse_time("2024-01-01T00:00:00Z", 0), Ok(JAN_2024));
        assert_eq!(
            parse_time("2024-01-01T01:00:00.5+01:00", 0),
            Ok(JAN_2024 + 500_000_000)
        );
        assert_eq!(
            parse_time("2023-12-31T19:00:00.000000001-05:00", 0),
            Ok(JAN_2024 + 1)
        );
        assert_eq!(
            parse_time("2024-02-29T00:00:00Z", 0),
            Ok(JAN_2024 + 59 * 86_400 * 1_000_000_000)
        );
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01",
            "2024-01-01T00:00:00",
            "2024-01-01T25:00:00Z",
            "yesterday",
        ] {
            assert!(parse_time(bad, 0).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn relative_ages_count_back_from_now() {
        let now = JAN_2024;
        assert_eq!(parse_time("15m", now), Ok(now - 15 * 60 * 1_000_000_000));
        assert_eq!(parse_time("7d", now), Ok(now - 7 * 86_400 * 1_000_000_000));
        assert_eq!(parse_time("250ms", now), Ok(now - 250_000_000));
        assert!(parse_time("7y", now).unwrap_err().contains("unknown unit"));
        assert_eq!(parse_duration_ns("7d"), Ok(7 * 86_400 * 1_000_000_000));
        assert!(parse_duration_ns("soon").is_err());
    }

    #[test]
    fn now_signed_and_compound_relative_times() {
        let now = JAN_2024;
        let s = 1_000_000_000;
        assert_eq!(parse_time("now", now), Ok(now));
        assert_eq!(parse_time("-5s", now), Ok(now - 5 * s));
        assert_eq!(parse_time("5s", now), Ok(now - 5 * s));
        assert_eq!(parse_time("+1h", now), Ok(now + 3_600 * s));
        assert_eq!(parse_time("1h30m", now), Ok(now - 5_400 * s));
        assert_eq!(parse_time("1h 30m", now), Ok(now - 5_400 * s));
        assert_eq!(parse_time("2 hours ago", now), Ok(now - 7_200 * s));
        assert_eq!(parse_time("1w", now), Ok(now - 7 * 86_400 * s));
        assert_eq!(parse_time("1500us", now), Ok(now - 1_500_000));
        assert_eq!(parse_duration_ns("1h30m"), Ok(5_400 * s));
        assert_eq!(parse_duration_ns("90s"), Ok(90 * s));
        assert!(parse_duration_ns("-5s").is_err());
        assert!(parse_time("3mo", now).unwrap_err().contains("unknown unit"));
        // Far in the past clamps to the epoch rather than failing.
        assert_eq!(parse_time("100000w", now), Ok(0));
    }

    #[test]
    fn formatting_inverts_parsing() {
        for ns in [0, JAN_2024, JAN_2024 + 123_456_789, 951_782_400_123_000_000] {
            assert_eq!(parse_rfc3339(&format_rfc3339(ns)), Ok(ns));
        }
        assert_eq!(format_rfc3339(JAN_2024), "2024-01-01T00:00:00.000000000Z");
    }
}
