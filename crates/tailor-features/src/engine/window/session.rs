//! Gap-based sessions, per entity (only `user` entities: sessions are tracked in the
//! user's log partition).
//!
//! The entity keeps its current session as (start, last) = (min, max) event time of the
//! events assigned to it. Each applied (not late) event at time t of the entity, in the
//! order events are applied:
//! - no session yet, or `t > last + gap`: a new session starts at t (the previous one is
//!   closed, its aggregates discarded);
//! - `start − gap <= t <= last + gap`: t joins the current session (start/last widen);
//! - `t < start − gap`: t belongs to an earlier, closed session; session features ignore it.
//!
//! The session value as of T is the aggregate of the current session while
//! `T <= last + gap`, and empty after (the session has ended).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SessionClock {
    pub(crate) start_ms: i64,
    pub(crate) last_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// A new session started with this event: reset session aggregates, then apply.
    New,
    /// The event joined the current session.
    Joined,
    /// The event belongs to an earlier session: session features skip it.
    Outside,
}

/// Assigns an event at `t_ms` to a session.
pub(crate) fn observe(clock: &mut Option<SessionClock>, t_ms: i64, gap_ms: i64) -> Step {
    match clock {
        Some(c) if t_ms <= c.last_ms.saturating_add(gap_ms) => {
            if t_ms < c.start_ms.saturating_sub(gap_ms) {
                Step::Outside
            } else {
                c.start_ms = c.start_ms.min(t_ms);
                c.last_ms = c.last_ms.max(t_ms);
                Step::Joined
            }
        }
        _ => {
            *clock = Some(SessionClock {
                start_ms: t_ms,
                last_ms: t_ms,
            });
            Step::New
        }
    }
}

/// Whether the session is still current as of `as_of_ms`.
pub(crate) fn is_current(clock: &SessionClock, as_of_ms: i64, gap_ms: i64) -> bool {
    as_of_ms <= clock.last_ms.saturating_add(gap_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gap_rules() {
        let gap = 100;
        let mut c = None;
        assert_eq!(observe(&mut c, 1_000, gap), Step::New);
        assert_eq!(observe(&mut c, 1_100, gap), Step::Joined);
        assert_eq!(
            observe(&mut c, 950, gap),
            Step::Joined,
            "out of order, within gap"
        );
        assert_eq!(c.map(|c| (c.start_ms, c.last_ms)), Some((950, 1_100)));
        assert_eq!(
            observe(&mut c, 800, gap),
            Step::Outside,
            "before start − gap"
        );
        assert_eq!(observe(&mut c, 1_201, gap), Step::New);
        let clock = c.expect("clock");
        assert!(is_current(&clock, 1_301, gap));
        assert!(!is_current(&clock, 1_302, gap));
    }
}
