//! The one escape for text bound for a terminal: every table, summary and error message goes
//! through [`escape_text`], so control characters in event text (ESC, OSC, BEL, NUL, C1
//! controls, bidirectional overrides) never reach a terminal raw. Its own module, under the
//! writer ([`crate::output`]), the table renderer and the error type that all use it.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal raw: C0 and C1 control characters and DEL (ESC starts
/// escape sequences, OSC retitles windows or writes the clipboard, BEL rings, NUL and CR hide
/// text), and the invisible characters that reorder or hide text (bidirectional overrides and
/// isolates, line and paragraph separators, the byte-order mark).
pub fn is_unsafe_for_terminal(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// Text made safe for a terminal: every character [`is_unsafe_for_terminal`] says must not be
/// shown raw is written visibly instead, as `\x1b` (ASCII controls and DEL) or `\u{9b}`
/// (everything else). Every table, summary and error message goes through here. The result
/// contains no control character, so it is also safe inside XML text once `<`, `>`, `&` and
/// quotes are escaped.
pub fn escape_text(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe_for_terminal) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe_for_terminal(c) {
            let n = u32::from(c);
            if n < 0x80 {
                let _ = write!(out, "\\x{n:02x}");
            } else {
                let _ = write!(out, "\\u{{{n:x}}}");
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}
