//! Times on the command line and in tables: RFC 3339, Unix nanoseconds, relative ages.
//!
//! Written by hand (proleptic Gregorian civil-date arithmetic) so the tool needs no date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch now.
pub fn now_unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Parses a time given on the command line, relative to `now` (Unix ns):
/// - Unix nanoseconds: `1704067200000000000`
/// - RFC 3339: `2024-01-01T00:00:00Z`, `2024-01-01T01:00:00.5+01:00`
/// - a relative age, meaning that long before `now`: `30s`, `15m`, `2h`, `7d`, `1w`, `500ms`
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
    if let Some(age) = parse_age(s) {
        let age = age.map_err(|e| format!("time {s:?}: {e}"))?;
        return Ok(now.saturating_sub(age));
    }
    parse_rfc3339(s).map_err(|e| {
        format!("time {s:?}: {e} (expected RFC 3339, Unix nanoseconds, or an age like 15m or 7d)")
    })
}

/// Parses a duration such as `7d` or `90s` into nanoseconds (for `--retention`).
pub fn parse_duration_ns(s: &str) -> Result<u64, String> {
    match parse_age(s.trim()) {
        Some(r) => r.map_err(|e| format!("duration {s:?}: {e}")),
        None => Err(format!(
            "duration {s:?}: expected a number and a unit (ns, us, ms, s, m, h, d, w), like 7d"
        )),
    }
}

/// `None` when `s` does not look like an age at all (digits then letters).
fn parse_age(s: &str) -> Option<Result<u64, String>> {
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    if split == 0 {
        return None;
    }
    let (num, unit) = s.split_at(split);
    if !unit.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let scale: u64 = match unit {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" | "min" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        "d" => 86_400 * 1_000_000_000,
        "w" => 7 * 86_400 * 1_000_000_000,
        _ => {
            return Some(Err(format!(
                "unknown unit {unit:?} (use ns, us, ms, s, m, h, d, w)"
            )))
        }
    };
    Some(
        num.parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .ok_or_else(|| "age out of range".to_string()),
    )
}

fn digits(s: &str, at: usize, n: usize) -> Result<u32, String> {
    let part = s
        .get(at..at + n)
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("expected {n} digits at position {at}"))?;
    part.parse().map_err(|_| format!("bad number at {at}"))
}

fn expect(s: &str, at: usize, what: &[u8]) -> Result<(), String> {
    match s.as_bytes().get(at) {
        Some(b) if what.contains(b) => Ok(()),
        _ => Err(format!(
            "expected {:?} at position {at}",
            what.iter().map(|&b| b as char).collect::<String>()
        )),
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`.
pub fn parse_rfc3339(s: &str) -> Result<u64, String> {
    let year = digits(s, 0, 4)? as i64;
    expect(s, 4, b"-")?;
    let month = digits(s, 5, 2)?;
    expect(s, 7, b"-")?;
    let day = digits(s, 8, 2)?;
    expect(s, 10, b"Tt ")?;
    let hour = digits(s, 11, 2)?;
    expect(s, 13, b":")?;
    let minute = digits(s, 14, 2)?;
    expect(s, 16, b":")?;
    let second = digits(s, 17, 2)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err("no such date".into());
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err("no such time of day".into());
    }
    let mut pos = 19;
    let mut frac_ns: u64 = 0;
    if s.as_bytes().get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while s.as_bytes().get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        let frac = &s[start..pos];
        if frac.is_empty() {
            return Err("empty fraction of a second".into());
        }
        for (i, b) in frac.bytes().enumerate().take(9) {
            frac_ns += u64::from(b - b'0') * 10u64.pow(8 - i as u32);
        }
    }
    let offset_s: i64 = match s.as_bytes().get(pos) {
        Some(b'Z' | b'z') if pos + 1 == s.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(s, pos + 1, 2)? as i64;
            expect(s, pos + 3, b":")?;
            let om = digits(s, pos + 4, 2)? as i64;
            if pos + 6 != s.len() || oh > 23 || om > 59 {
                return Err("bad UTC offset".into());
            }
            let off = oh * 3600 + om * 60;
            if sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return Err("expected Z or a UTC offset like +01:00 after the time".into()),
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second.min(59)) - offset_s;
    if secs < 0 {
        return Err("before 1970".into());
    }
    (secs as u64)
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(frac_ns))
        .ok_or_else(|| "after year 2554, out of range".into())
}

/// Formats Unix nanoseconds as RFC 3339 UTC with nanoseconds: `2024-01-01T00:00:00.000000000Z`.
pub fn format_rfc3339(ns: u64) -> String {
    let secs = (ns / 1_000_000_000) as i64;
    let nanos = ns % 1_000_000_000;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let tod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        tod / 3600,
        tod / 60 % 60,
        tod % 60
    )
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
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
    fn formatting_inverts_parsing() {
        for ns in [0, JAN_2024, JAN_2024 + 123_456_789, 951_782_400_123_000_000] {
            assert_eq!(parse_rfc3339(&format_rfc3339(ns)), Ok(ns));
        }
        assert_eq!(format_rfc3339(JAN_2024), "2024-01-01T00:00:00.000000000Z");
    }
}
