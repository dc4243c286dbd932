use serde::{Deserialize, Serialize};

/// An exponentially time-decayed sum, kept as its value at a reference time. Updates in any
/// order give the same value (up to rounding) at any later time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Decayed {
    value: f64,
    at_ms: i64,
}

fn factor(dt_ms: i64, half_life_ms: f64) -> f64 {
    (-(dt_ms as f64) / half_life_ms).exp2()
}

impl Decayed {
    pub fn add(&mut self, w: f64, t_ms: i64, half_life_ms: f64) {
        if self.value == 0.0 && self.at_ms == 0 {
            *self = Decayed {
                value: w,
                at_ms: t_ms,
            };
        } else if t_ms >= self.at_ms {
            self.value = self.value * factor(t_ms.saturating_sub(self.at_ms), half_life_ms) + w;
            self.at_ms = t_ms;
        } else {
            self.value += w * factor(self.at_ms.saturating_sub(t_ms), half_life_ms);
        }
    }

    /// The value as of `t_ms` (no growth for times before the last update).
    pub fn value_at(&self, t_ms: i64, half_life_ms: f64) -> f64 {
        self.value * factor(t_ms.saturating_sub(self.at_ms).max(0), half_life_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn halves_every_half_life() {
        let mut d = Decayed::default();
        d.add(8.0, 1_000, 1_000.0);
        assert!((d.value_at(2_000, 1_000.0) - 4.0).abs() < 1e-9);
        assert!((d.value_at(4_000, 1_000.0) - 1.0).abs() < 1e-9);
    }

    /// A checkpoint may hold any reference time (found by fuzzing `checkpoint`): the time
    /// differences saturate instead of overflowing.
    #[test]
    fn extreme_reference_times_do_not_overflow() {
        let d = Decayed {
            value: 1.0,
            at_ms: i64::MIN,
        };
        assert_eq!(d.value_at(i64::MAX, 1_000.0), 0.0);
        let mut e = d;
        e.add(1.0, i64::MAX, 1_000.0);
        assert_eq!(e.value_at(i64::MAX, 1_000.0), 1.0);
        let mut f = Decayed {
            value: 1.0,
            at_ms: i64::MAX,
        };
        f.add(2.0, i64::MIN, 1_000.0);
        assert_eq!(f.value_at(i64::MAX, 1_000.0), 1.0);
    }

    proptest! {
        #[test]
        fn order_does_not_matter(mut events in proptest::collection::vec((0i64..1_000_000, 0.0f64..10.0), 1..50)) {
            let hl = 50_000.0;
            let mut a = Decayed::default();
            for (t, w) in &events { a.add(*w, *t, hl); }
            events.reverse();
            let mut b = Decayed::default();
            for (t, w) in &events { b.add(*w, *t, hl); }
            let (va, vb) = (a.value_at(2_000_000, hl), b.value_at(2_000_000, hl));
            prop_assert!((va - vb).abs() <= 1e-9 * va.abs().max(1.0));
        }
    }
}
