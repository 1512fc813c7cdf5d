//! Minimal JSON writing for the streaming formats: strings escaped per RFC 8259, numbers as
//! JSON numbers, and a [`FieldVisitor`] that writes an event's
//! payload as the spec's JSON object (the shape `northstar query --format json` prints).

use crate::fields::{FieldVisitor, Group, Scalar};
use std::fmt::Write;

/// Bytes a JSON string cannot hold as they are: controls, `"` and backslash.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Appends `s` as a JSON string literal. Runs of bytes that need no escape (almost every
/// string) are copied whole.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !NEEDS_ESCAPE[usize::from(b)] {
            i += 1;
            continue;
        }
        out.push_str(&s[start..i]);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ => {
                let _ = write!(out, "\\u{b:04x}");
            }
        }
        i += 1;
        start = i;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Appends an unsigned integer in decimal (without the formatting machinery).
pub fn push_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // SAFETY: `buf[i..]` holds only ASCII digits (written just above), which are UTF-8.
    out.push_str(unsafe { std::str::from_utf8_unchecked(&buf[i..]) });
}

/// Appends a signed integer in decimal.
pub fn push_i64(out: &mut String, v: i64) {
    if v < 0 {
        out.push('-');
    }
    push_u64(out, v.unsigned_abs());
}

/// Appends bytes as lowercase hex (no quotes).
pub fn push_hex(out: &mut String, b: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &x in b {
        out.push(HEX[usize::from(x >> 4)] as char);
        out.push(HEX[usize::from(x & 15)] as char);
    }
}

/// Appends a float as JSON (non-finite values, which JSON cannot hold, as `null`).
pub fn push_f64(out: &mut String, v: f64) {
    if v.is_finite() {
        let _ = write!(out, "{v:?}");
    } else {
        out.push_str("null");
    }
}

/// Writes an event's payload as a JSON object (spec names, absent optionals as `null`).
pub struct JsonPayload<'o> {
    out: &'o mut String,
    /// Per open group: whether it already has a member (for commas) and whether it is a list.
    stack: Vec<(bool, bool)>,
}

impl<'o> JsonPayload<'o> {
    /// Starts the object in `out`.
    pub fn new(out: &'o mut String) -> Self {
        out.push('{');
        Self {
            out,
            stack: vec![(false, false)],
        }
    }

    /// Closes the object.
    pub fn finish(self) {
        self.out.push('}');
    }

    fn key(&mut self, name: &str) {
        let Some((has, is_list)) = self.stack.last_mut() else {
            return;
        };
        if *has {
            self.out.push(',');
        }
        *has = true;
        if !*is_list {
            push_str(self.out, name);
            self.out.push(':');
        }
    }
}

impl<'a> FieldVisitor<'a> for JsonPayload<'_> {
    fn scalar(&mut self, name: &str, value: Scalar<'a>) {
        self.key(name);
        match value {
            Scalar::U64(v) => {
                let _ = write!(self.out, "{v}");
            }
            Scalar::I64(v) => {
                let _ = write!(self.out, "{v}");
            }
            Scalar::F64(v) => push_f64(self.out, v),
            Scalar::Str(s) => push_str(self.out, s),
            Scalar::Bool(b) => self.out.push_str(if b { "true" } else { "false" }),
            Scalar::Bytes(b) => {
                self.out.push('"');
                push_hex(self.out, b);
                self.out.push('"');
            }
        }
    }

    fn absent(&mut self, name: &str) {
        self.key(name);
        self.out.push_str("null");
    }

    fn begin(&mut self, name: &str, group: Group) {
        self.key(name);
        let list = group == Group::List;
        self.out.push(if list { '[' } else { '{' });
        self.stack.push((false, list));
    }

    fn end(&mut self) {
        if let Some((_, list)) = self.stack.pop() {
            self.out.push(if list { ']' } else { '}' });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_in_decimal() {
        let mut s = String::new();
        for v in [0u64, 7, 10, 12345, u64::MAX] {
            s.clear();
            push_u64(&mut s, v);
            assert_eq!(s, v.to_string());
        }
        for v in [0i64, -1, -120, i64::MIN, i64::MAX] {
            s.clear();
            push_i64(&mut s, v);
            assert_eq!(s, v.to_string());
        }
    }

    #[test]
    fn escapes_controls_quotes_and_backslashes() {
        let mut s = String::new();
        push_str(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
    }
}
