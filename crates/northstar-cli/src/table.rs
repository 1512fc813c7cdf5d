//! Aligned text tables for the human output format.

/// Renders rows under headers, columns padded to their widest cell; numeric-looking cells are
/// right-aligned. The last column is never padded.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let n = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
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
    line(&mut headers.iter().copied());
    for row in rows {
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
}
