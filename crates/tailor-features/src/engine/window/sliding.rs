//! Sliding windows as bucketed partial aggregates — never a per-event rescan.
//!
//! **Bucket width** of a window of span W: the largest unit from
//! 1s 2s 5s 10s 15s 30s 1m 2m 5m 10m 15m 30m 1h 2h 3h 4h 6h 12h 1d 2d 7d that is at most
//! max(W/12, 1s) and divides W. Examples: 5m → 15s (20 buckets), 1h → 5m (12),
//! 24h → 2h (12), 7d → 12h (14), 30d → 2d (15). Windows needing more than
//! [`MAX_BUCKETS`] buckets are refused at validation.
//!
//! **Buckets** are aligned to the epoch: an event at t falls in the bucket starting at
//! `start(t) = floor(t / width) · width`.
//!
//! **As of T**, the window covers the buckets whose start lies in
//! `(start(T) − W, start(T)]` — W/width whole buckets ending with T's bucket (so it may
//! reach up to one bucket width less than W back from T, never more than W).
//!
//! A bucket whose start is `<= start(M) − W`, M being the highest event time of the
//! partition, can never be covered again (reads happen at the stream time, which is >= M):
//! it is dropped the next time an update of its window opens a new bucket (or lands in
//! an older one; an update of the newest bucket reads nothing else), and an update falling
//! into such a bucket (an out-of-order event within lateness) is ignored. So a window
//! holds at most its span's buckets plus those that expired since it last opened one.

use crate::engine::agg::{reserve_one, Agg, Partial, Update, Val};

/// Most buckets one sliding window may have.
pub const MAX_BUCKETS: i64 = 400;

const UNITS_SECS: [i64; 21] = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 14_400, 21_600,
    43_200, 86_400, 172_800, 604_800,
];

/// The bucket width of a sliding window of `span_ms` (a whole number of seconds), or
/// `None` when it would need more than [`MAX_BUCKETS`] buckets.
pub fn bucket_width_ms(span_ms: i64) -> Option<i64> {
    if span_ms <= 0 || span_ms % 1_000 != 0 {
        return None;
    }
    let span = span_ms / 1_000;
    let target = (span / 12).max(1);
    let width = UNITS_SECS
        .iter()
        .rev()
        .copied()
        .find(|&u| u <= target && span % u == 0)
        .unwrap_or(1);
    (span / width <= MAX_BUCKETS).then_some(width * 1_000)
}

/// Start of the bucket of width `width_ms` containing `t_ms` (`i64::MIN` for the partial
/// bucket at the bottom of the range).
pub fn bucket_start(t_ms: i64, width_ms: i64) -> i64 {
    t_ms.div_euclid(width_ms).saturating_mul(width_ms)
}

/// Whether a read as of `as_of_ms` covers the bucket starting at `start`.
pub(crate) fn covers(start: i64, as_of_ms: i64, width_ms: i64, span_ms: i64) -> bool {
    let top = bucket_start(as_of_ms, width_ms);
    start <= top && start > top.saturating_sub(span_ms)
}

/// (start of the bucket of `t_ms`, horizon): buckets starting at or before the horizon
/// are out of every future window, `max_ms` being the partition's highest event time.
pub(crate) fn position(t_ms: i64, max_ms: i64, width_ms: i64, span_ms: i64) -> (i64, i64) {
    (
        bucket_start(t_ms, width_ms),
        bucket_start(max_ms, width_ms).saturating_sub(span_ms),
    )
}

/// Adds an update to the bucket starting at `start`, dropping expired buckets first.
pub(crate) fn update(
    buckets: &mut Vec<(i64, Partial<Val>)>,
    start: i64,
    horizon: i64,
    agg: &Agg,
    key: Option<&Val>,
    u: &Update<Val>,
) {
    if start <= horizon {
        return;
    }
    // Updates mostly land in the newest bucket: then nothing else is read (the oldest
    // bucket is usually on another cache line).
    if let Some(last) = buckets.last_mut().filter(|b| b.0 == start) {
        last.1.add(agg, key, u);
        return;
    }
    // Expired buckets are at the front; look there before searching.
    if buckets.first().is_some_and(|b| b.0 <= horizon) {
        let expired = buckets.partition_point(|b| b.0 <= horizon);
        buckets.drain(..expired);
    }
    match buckets.binary_search_by_key(&start, |b| b.0) {
        Ok(i) => buckets[i].1.add(agg, key, u),
        Err(i) => {
            reserve_one(buckets);
            buckets.insert(i, (start, Partial::new(agg, key, u)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads may be as of any time (`tailor features training-set` takes label times as
    /// integers): the bucket arithmetic saturates instead of overflowing.
    #[test]
    fn extreme_times_do_not_overflow() {
        let (w, span) = (3_600_000, 86_400_000);
        assert_eq!(bucket_start(i64::MIN, w), i64::MIN);
        assert!(!covers(0, i64::MIN, w, span));
        let top = bucket_start(i64::MAX, w);
        assert!(covers(top, i64::MAX, w, span));
        assert!(!covers(top - span, i64::MAX, w, span));
        assert_eq!(position(i64::MIN, i64::MIN, w, span), (i64::MIN, i64::MIN));
    }

    #[test]
    fn bucket_widths() {
        let s = 1_000;
        let m = 60 * s;
        let h = 60 * m;
        let d = 24 * h;
        assert_eq!(bucket_width_ms(5 * m), Some(15 * s));
        assert_eq!(bucket_width_ms(h), Some(5 * m));
        assert_eq!(bucket_width_ms(24 * h), Some(2 * h));
        assert_eq!(bucket_width_ms(7 * d), Some(12 * h));
        assert_eq!(bucket_width_ms(30 * d), Some(2 * d));
        assert_eq!(bucket_width_ms(365 * d), Some(d));
        assert_eq!(bucket_width_ms(10 * m), Some(30 * s));
        assert_eq!(bucket_width_ms(7 * s), Some(s));
        assert_eq!(bucket_width_ms(61 * s), Some(s));
        assert_eq!(bucket_width_ms(401 * s), None);
        assert_eq!(bucket_width_ms(1_500), None);
    }

    #[test]
    fn covered_range() {
        // 1h window, 5m buckets: as of 10:07 it covers buckets 09:10 .. 10:05.
        let m = 60_000;
        let (w, span) = (5 * m, 60 * m);
        let t = 607 * m;
        assert!(covers(605 * m, t, w, span));
        assert!(covers(550 * m, t, w, span));
        assert!(!covers(545 * m, t, w, span));
        assert!(!covers(610 * m, t, w, span));
        assert_eq!(bucket_start(-1, w), -w);
    }
}
