//! Aligned text tables for the human output format.

use crate::escape::escape_text;

/// Renders rows under headers, columns padded to their widest cell; numeric-looking cells are
/// right-aligned. The last column is never padded. Every cell and header goes through
/// [`escape_text`]: control characters in event text never reach the terminal raw, and a
/// newline in a cell never breaks a row.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let headers: Vec<String> = headers
        .iter()
        .map(|h| escape_text(h).into_owned())
        .collect();
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| escape_text(c).into_owned()).collect())
        .collect();
    let n = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate().take(n) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..n)
        .map(|i| {
            !rows.is_empty()
                && rows.iter().all(|r| {
                    r.get(i).is_some_and(|c| {
                        !c.is_empty()
                            && c.chars()
                                .all(|ch| ch.is_ascii_digit() || ".-+%e".contains(ch))
                    })
                })
        })
        .collect();
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, cell) in cells.enumerate().take(n) {
            if i > 0 {
                s.push_str("  ");
            }
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i + 1 == n {
                if numeric[i] {
                    s.push_str(&" ".repeat(pad));
                }
                s.push_str(cell);
            } else if numeric[i] {
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            } else {
                s.push_str(cell);
                s.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().map(String::as_str));
    for row in &rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_align_and_numbers_right_align() {
        let t = super::render(
            &["name", "count", "note"],
            &[
                vec!["a".into(), "5".into(), "x".into()],
                vec!["longer".into(), "12345".into(), "y".into()],
            ],
        );
        assert_eq!(
            t,
            "name    count  note\na           5  x\nlonger  12345  y\n"
        );
    }

    #[test]
    fn control_characters_are_escaped_and_columns_still_align() {
        let t = super::render(
            &["a", "b"],
            &[
                vec!["x\u{1b}]0;pwned\u{7}".into(), "1".into()],
                vec!["\u{9b}31m\n".into(), "2".into()],
            ],
        );
        assert_eq!(
            t,
            "a                  b\nx\\x1b]0;pwned\\x07  1\n\\u{9b}31m\\x0a      2\n"
        );
        assert!(!t.chars().any(|c| c.is_control() && c != '\n'));
    }
}
