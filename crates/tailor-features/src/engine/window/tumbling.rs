//! Tumbling windows: epoch-aligned periods `[k·P, (k+1)·P)`; the value as of T is the
//! aggregate of the period containing T. Implemented as a bucketed window whose single
//! bucket is as wide as the period (see [`super::sliding`]): a read as of T covers bucket
//! starts in `(start(T) − P, start(T)]`, i.e. exactly `start(T)`. An event of an earlier
//! period arriving (within lateness) after a later one is applied to nothing visible.

/// (bucket width, span) of a tumbling window of `period_ms`.
pub(crate) fn buckets(period_ms: i64) -> (i64, i64) {
    (period_ms, period_ms)
}

#[cfg(test)]
mod tests {
    use super::super::sliding::covers;
    use super::*;

    #[test]
    fn covers_exactly_the_current_period() {
        let (w, s) = buckets(86_400_000);
        let day = 86_400_000;
        assert!(covers(3 * day, 3 * day + 5, w, s));
        assert!(!covers(2 * day, 3 * day + 5, w, s));
        assert!(covers(3 * day, 4 * day - 1, w, s));
        assert!(!covers(3 * day, 4 * day, w, s));
    }
}
