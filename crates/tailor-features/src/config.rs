use serde::{Deserialize, Serialize};
use tailor_event::InteractionKind;

/// Live-processing settings (`[live]` in `tailor.toml`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LiveConfig {
    /// Inactivity gap that ends a session, in seconds.
    pub session_gap_secs: u64,
    /// Items of the current session paired with each new interaction.
    pub session_items: usize,
    /// Half-life of item popularity, in seconds of event time.
    pub popularity_half_life_secs: u64,
    /// Neighbours kept per item in the co-occurrence table.
    pub max_neighbours: usize,
    /// Users idle longer than this (event time) are dropped, in seconds.
    pub user_ttl_secs: u64,
    /// Most items kept (popularity, co-occurrence): past it by an eighth, the least popular
    /// are dropped down to it, so ever-new item ids cannot grow memory without bound.
    pub max_items: usize,
    /// Most users with a live session kept: past it by an eighth, the least recently
    /// active are dropped down to it (the TTL alone lets a flood of new ids grow memory).
    pub max_users: usize,
    /// Interaction weights.
    pub weight_view: f32,
    pub weight_click: f32,
    pub weight_add_to_cart: f32,
    pub weight_purchase: f32,
    /// Seconds between checkpoints.
    pub checkpoint_interval_secs: u64,
    /// `all`: this processor owns every partition of the log. `group`: processors share
    /// the partitions through a Kafka consumer group, each checkpointing its own and
    /// writing partition states to a `redis://` online store (ADR 0016).
    pub assignment: Assignment,
    /// With `assignment = "group"`: how long the group waits for a processor that stopped
    /// answering (killed, partitioned away) before giving its partitions to the others, ms.
    pub group_session_timeout_ms: u64,
}

/// How a processor's partitions are decided (`live.assignment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Assignment {
    #[default]
    All,
    Group,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            session_gap_secs: 30 * 60,
            session_items: 20,
            popularity_half_life_secs: 24 * 3600,
            max_neighbours: 200,
            user_ttl_secs: 90 * 24 * 3600,
            max_items: 1_000_000,
            max_users: 2_000_000,
            weight_view: 1.0,
            weight_click: 2.0,
            weight_add_to_cart: 4.0,
            weight_purchase: 8.0,
            checkpoint_interval_secs: 5,
            assignment: Assignment::All,
            group_session_timeout_ms: 10_000,
        }
    }
}

/// Largest accepted duration in seconds (100 years, as feature definitions): event-time
/// arithmetic in milliseconds then cannot overflow.
pub const MAX_LIVE_SECS: u64 = 100 * 365 * 86_400;
/// Largest accepted `session_items` and `max_neighbours`.
pub const MAX_LIVE_ITEMS: usize = 1_000_000;
/// Largest accepted `max_items` and `max_users` (item indexes are `u32`).
pub const MAX_LIVE_CAPACITY: usize = 1_000_000_000;

impl LiveConfig {
    /// Weight of an interaction kind; impressions carry no intent and weigh 0.
    pub fn weight(&self, kind: InteractionKind) -> f32 {
        match kind {
            InteractionKind::View => self.weight_view,
            InteractionKind::Click => self.weight_click,
            InteractionKind::AddToCart => self.weight_add_to_cart,
            InteractionKind::Purchase => self.weight_purchase,
            InteractionKind::Impression => 0.0,
        }
    }

    /// Problems with the values, each naming its field.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("live.session_items", self.session_items as f64),
            ("live.session_gap_secs", self.session_gap_secs as f64),
            (
                "live.popularity_half_life_secs",
                self.popularity_half_life_secs as f64,
            ),
            ("live.max_neighbours", self.max_neighbours as f64),
            ("live.max_items", self.max_items as f64),
            ("live.max_users", self.max_users as f64),
            ("live.user_ttl_secs", self.user_ttl_secs as f64),
            (
                "live.checkpoint_interval_secs",
                self.checkpoint_interval_secs as f64,
            ),
        ];
        for (name, v) in positive {
            if v <= 0.0 {
                return Err(format!("{name} must be greater than 0"));
            }
        }
        if !(1_000..=300_000).contains(&self.group_session_timeout_ms) {
            return Err(format!(
                "live.group_session_timeout_ms must be between 1000 and 300000, got {}",
                self.group_session_timeout_ms
            ));
        }
        for (name, secs) in [
            ("live.session_gap_secs", self.session_gap_secs),
            (
                "live.popularity_half_life_secs",
                self.popularity_half_life_secs,
            ),
            ("live.user_ttl_secs", self.user_ttl_secs),
            (
                "live.checkpoint_interval_secs",
                self.checkpoint_interval_secs,
            ),
        ] {
            if secs > MAX_LIVE_SECS {
                return Err(format!(
                    "{name} must be at most {MAX_LIVE_SECS} (100 years), got {secs}"
                ));
            }
        }
        for (name, n) in [
            ("live.session_items", self.session_items),
            ("live.max_neighbours", self.max_neighbours),
        ] {
            if n > MAX_LIVE_ITEMS {
                return Err(format!("{name} must be at most {MAX_LIVE_ITEMS}, got {n}"));
            }
        }
        for (name, n) in [
            ("live.max_items", self.max_items),
            ("live.max_users", self.max_users),
        ] {
            if n > MAX_LIVE_CAPACITY {
                return Err(format!(
                    "{name} must be at most {MAX_LIVE_CAPACITY}, got {n}"
                ));
            }
        }
        for (name, w) in [
            ("live.weight_view", self.weight_view),
            ("live.weight_click", self.weight_click),
            ("live.weight_add_to_cart", self.weight_add_to_cart),
            ("live.weight_purchase", self.weight_purchase),
        ] {
            if !w.is_finite() || w < 0.0 {
                return Err(format!("{name} must be a finite number >= 0, got {w}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing `features_config`: a huge duration overflowed the millisecond
    /// arithmetic of the live state (a panic in debug builds, a wrong session gap or TTL in
    /// release builds); validation now refuses it.
    #[test]
    fn refuses_values_that_overflow_event_time_arithmetic() {
        assert_eq!(LiveConfig::default().validate(), Ok(()));
        let at_limit = LiveConfig {
            session_gap_secs: MAX_LIVE_SECS,
            user_ttl_secs: MAX_LIVE_SECS,
            max_neighbours: MAX_LIVE_ITEMS,
            ..LiveConfig::default()
        };
        assert_eq!(at_limit.validate(), Ok(()));
        for cfg in [
            LiveConfig {
                session_gap_secs: 10_000_000_000_000_000,
                ..LiveConfig::default()
            },
            LiveConfig {
                user_ttl_secs: MAX_LIVE_SECS + 1,
                ..LiveConfig::default()
            },
            LiveConfig {
                max_neighbours: usize::MAX,
                ..LiveConfig::default()
            },
        ] {
            let err = cfg.validate().expect_err("out of range");
            assert!(err.contains("must be at most"), "{err}");
        }
    }
}
