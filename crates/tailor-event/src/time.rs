//! Event-time resolution, as the Segment HTTP API defines it.
//!
//! The event time is `timestamp` when present; else `originalTimestamp` corrected by the
//! client's clock skew (`received − sentAt`); else the time the collector received it.

use chrono::{DateTime, FixedOffset};

/// Parses an RFC 3339 timestamp (`Z` or `±hh:mm` offset, 0–9 fraction digits) into
/// milliseconds since the epoch.
pub fn parse_rfc3339_ms(s: &str) -> Result<i64, String> {
    DateTime::<FixedOffset>::parse_from_rfc3339(s.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("{s:?} is not an RFC 3339 timestamp ({e})"))
}

/// Formats milliseconds since the epoch as RFC 3339 with millisecond precision and `Z`.
pub fn format_ms(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// Resolves the event time from the optional client timestamps (already parsed).
pub fn resolve_event_time(
    timestamp: Option<i64>,
    original_timestamp: Option<i64>,
    sent_at: Option<i64>,
    received_at: i64,
) -> i64 {
    match (timestamp, original_timestamp, sent_at) {
        (Some(t), _, _) => t,
        (None, Some(orig), Some(sent)) => orig.saturating_add(received_at.saturating_sub(sent)),
        (None, Some(orig), None) => orig,
        (None, None, _) => received_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_offsets_and_fraction_digits() {
        let base = parse_rfc3339_ms("2026-01-15T10:00:00Z").expect("base");
        for s in [
            "2026-01-15T10:00:00Z",
            "2026-01-15T10:00:00.0Z",
            "2026-01-15T10:00:00.000Z",
            "2026-01-15T10:00:00.000000+00:00",
            "2026-01-15T10:00:00.000000000Z",
            "2026-01-15T11:00:00+01:00",
            "2026-01-15T05:30:00-04:30",
        ] {
            assert_eq!(parse_rfc3339_ms(s), Ok(base), "{s}");
        }
        assert_eq!(
            parse_rfc3339_ms("2026-01-15T10:00:00.123456789Z"),
            Ok(base + 123)
        );
        assert!(parse_rfc3339_ms("2026-01-15 garbage").is_err());
        assert!(parse_rfc3339_ms("1700000000").is_err());
    }

    #[test]
    fn corrects_original_timestamp_by_sent_at_skew() {
        // Client clock is 10 s behind: sent at 990, received at 1000.
        assert_eq!(resolve_event_time(None, Some(500), Some(990), 1000), 510);
        assert_eq!(resolve_event_time(Some(7), Some(500), Some(990), 1000), 7);
        assert_eq!(resolve_event_time(None, None, Some(990), 1000), 1000);
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
    }
}
