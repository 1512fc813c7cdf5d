//! One measured point of a series, and its runs (consecutive points measured at one commit):
//! the input of the segmentation and of every detector.

/// One sample of a series, in time order.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Unix nanoseconds.
    pub timestamp: u64,
    /// The value.
    pub value: f64,
    /// The commit (or commit range, `a..b`) the sample was measured at, if known.
    pub commit: Option<String>,
}

/// Runs of consecutive points with the same commit: `(start, end)` index ranges. Points without
/// a commit are runs of their own.
pub fn runs(points: &[Point]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=points.len() {
        let split = i == points.len()
            || points[i].commit.is_none()
            || points[i].commit != points[start].commit;
        if split {
            out.push((start, i));
            start = i;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_group_consecutive_commits() {
        let p = |c: Option<&str>| Point {
            timestamp: 0,
            value: 1.0,
            commit: c.map(str::to_string),
        };
        let pts = [
            p(Some("a")),
            p(Some("a")),
            p(None),
            p(None),
            p(Some("b")),
            p(Some("a")),
        ];
        assert_eq!(runs(&pts), vec![(0, 2), (2, 3), (3, 4), (4, 5), (5, 6)]);
    }
}
