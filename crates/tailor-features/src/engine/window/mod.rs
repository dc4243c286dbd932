//! Windows: how a feature's updates are grouped in event time, and which of them a read
//! "as of" time T sees.
//!
//! - [`sliding`]: bucketed partial aggregates aligned to the epoch; see there for the exact
//!   bucket rule and what "as of T" covers.
//! - [`tumbling`]: the epoch-aligned period containing T (one bucket as wide as the period).
//! - [`session`]: the entity's current gap-based session.
//! - [`lifetime`]: everything, no expiry.

pub(crate) mod lifetime;
pub(crate) mod session;
pub(crate) mod sliding;
pub(crate) mod tumbling;

use serde::{Deserialize, Serialize};

use super::agg::{Agg, Partial, Update, Val};
use super::def::parse_duration_ms;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Window {
    Lifetime,
    Session,
    Sliding { width_ms: i64, span_ms: i64 },
    Tumbling { period_ms: i64 },
}

pub(crate) const WINDOW_HELP: &str = "use 5m, 1h, 24h, 7d, tumbling:1d, session or lifetime";

impl Window {
    /// Parses a `window` setting; the error is the message after the field path.
    pub(crate) fn parse(s: &str) -> Result<Window, String> {
        match s {
            "lifetime" => return Ok(Window::Lifetime),
            "session" => return Ok(Window::Session),
            _ => {}
        }
        if let Some(period) = s.strip_prefix("tumbling:") {
            return parse_duration_ms(period)
                .map(|period_ms| Window::Tumbling { period_ms })
                .ok_or_else(|| format!("{s:?}: {period:?} is not a duration; {WINDOW_HELP}"));
        }
        let span_ms = parse_duration_ms(s)
            .ok_or_else(|| format!("{s:?} is not a duration; {WINDOW_HELP}"))?;
        let width_ms = sliding::bucket_width_ms(span_ms).ok_or_else(|| {
            format!(
                "{s:?} would need more than {} buckets; use a window that is a whole number of minutes, hours or days",
                sliding::MAX_BUCKETS
            )
        })?;
        Ok(Window::Sliding { width_ms, span_ms })
    }

    /// (bucket width, span) of bucketed windows.
    pub(crate) fn buckets(&self) -> Option<(i64, i64)> {
        match *self {
            Window::Sliding { width_ms, span_ms } => Some((width_ms, span_ms)),
            Window::Tumbling { period_ms } => Some(tumbling::buckets(period_ms)),
            Window::Lifetime | Window::Session => None,
        }
    }
}

/// The state of one feature of one entity: with partition-local values ([`Val`]) in the
/// engine, resolved ([`super::agg::RVal`]) when exported to another process.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub(crate) enum Slot<V = Val> {
    #[default]
    Empty,
    /// Lifetime and session windows.
    One(Partial<V>),
    /// Sliding and tumbling windows: (bucket start, partial), ascending, non-empty buckets.
    Buckets(Vec<(i64, Partial<V>)>),
}

impl<V: Clone + Ord> Slot<V> {
    /// The same state with every value mapped (e.g. symbols resolved to strings).
    pub(crate) fn map<W: Clone + Ord>(&self, f: &impl Fn(&V) -> W) -> Slot<W> {
        match self {
            Slot::Empty => Slot::Empty,
            Slot::One(p) => Slot::One(p.map(f)),
            Slot::Buckets(b) => Slot::Buckets(b.iter().map(|(s, p)| (*s, p.map(f))).collect()),
        }
    }
}

impl Slot {
    /// Empties the slot for a new session: a list keeps its allocation (sessions start all
    /// the time, and their lists grow again), reading as empty as [`Slot::Empty`] does.
    pub(crate) fn reset(&mut self) {
        match self {
            Slot::One(Partial::LastN(l)) => l.clear(),
            _ => *self = Slot::Empty,
        }
    }

    pub(crate) fn approx_bytes(&self) -> usize {
        std::mem::size_of::<Slot>()
            + match self {
                Slot::Empty => 0,
                Slot::One(p) => p.approx_bytes(),
                Slot::Buckets(b) => b.iter().map(|(_, p)| 8 + p.approx_bytes()).sum(),
            }
    }

    pub(crate) fn partials(&self) -> impl Iterator<Item = &Partial<Val>> {
        let (one, many) = match self {
            Slot::Empty => (None, &[][..]),
            Slot::One(p) => (Some(p), &[][..]),
            Slot::Buckets(b) => (None, &b[..]),
        };
        one.into_iter().chain(many.iter().map(|(_, p)| p))
    }

    pub(crate) fn partials_mut(&mut self) -> Box<dyn Iterator<Item = &mut Partial<Val>> + '_> {
        match self {
            Slot::Empty => Box::new(std::iter::empty()),
            Slot::One(p) => Box::new(std::iter::once(p)),
            Slot::Buckets(b) => Box::new(b.iter_mut().map(|(_, p)| p)),
        }
    }
}

/// Applies one update to a feature's slot. Bucketed windows pass `bucket` = (start of the
/// update's bucket, horizon) from [`sliding::position`]; session windows are filtered by
/// the caller.
pub(crate) fn update(
    slot: &mut Slot,
    agg: &Agg,
    key: Option<&Val>,
    u: &Update<Val>,
    bucket: Option<(i64, i64)>,
) {
    match bucket {
        None => lifetime::update(slot, agg, key, u),
        Some((start, horizon)) => {
            if !matches!(slot, Slot::Buckets(_)) {
                *slot = Slot::Buckets(Vec::new());
            }
            if let Slot::Buckets(b) = slot {
                sliding::update(b, start, horizon, agg, key, u);
            }
        }
    }
}

/// The partials of a slot that a read as of `as_of_ms` covers (session currency is checked
/// by the caller).
pub(crate) fn visible<'a, V>(
    slot: &'a Slot<V>,
    window: &Window,
    as_of_ms: i64,
) -> impl Iterator<Item = &'a Partial<V>> + 'a {
    let range = window.buckets();
    slot_iter(slot).filter_map(move |(start, p)| match (range, start) {
        (Some((width, span)), Some(start)) => {
            sliding::covers(start, as_of_ms, width, span).then_some(p)
        }
        (None, None) => Some(p),
        _ => None,
    })
}

fn slot_iter<V>(slot: &Slot<V>) -> impl Iterator<Item = (Option<i64>, &Partial<V>)> {
    let (one, many) = match slot {
        Slot::Empty => (None, &[][..]),
        Slot::One(p) => (Some(p), &[][..]),
        Slot::Buckets(b) => (None, &b[..]),
    };
    one.into_iter()
        .map(|p| (None, p))
        .chain(many.iter().map(|(s, p)| (Some(*s), p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_windows() {
        assert_eq!(Window::parse("lifetime"), Ok(Window::Lifetime));
        assert_eq!(Window::parse("session"), Ok(Window::Session));
        assert_eq!(
            Window::parse("tumbling:1d"),
            Ok(Window::Tumbling {
                period_ms: 86_400_000
            })
        );
        assert_eq!(
            Window::parse("1h"),
            Ok(Window::Sliding {
                width_ms: 300_000,
                span_ms: 3_600_000
            })
        );
        let err = Window::parse("2x").expect_err("bad");
        assert_eq!(
            err,
            "\"2x\" is not a duration; use 5m, 1h, 24h, 7d, tumbling:1d, session or lifetime"
        );
        assert!(Window::parse("tumbling:soon").is_err());
        assert!(Window::parse("1000d").is_err(), "too many buckets");
    }
}
