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
    /// Interaction weights.
    pub weight_view: f32,
    pub weight_click: f32,
    pub weight_add_to_cart: f32,
    pub weight_purchase: f32,
    /// Seconds between checkpoints.
    pub checkpoint_interval_secs: u64,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            session_gap_secs: 30 * 60,
            session_items: 20,
            popularity_half_life_secs: 24 * 3600,
            max_neighbours: 200,
            user_ttl_secs: 90 * 24 * 3600,
            weight_view: 1.0,
            weight_click: 2.0,
            weight_add_to_cart: 4.0,
            weight_purchase: 8.0,
            checkpoint_interval_secs: 5,
        }
    }
}

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
