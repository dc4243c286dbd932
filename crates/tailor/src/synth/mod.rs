//! A realistic synthetic shop that emits Segment `track` messages (e-commerce spec v2):
//! a catalog with skewed popularity, shoppers with category preferences and a diurnal
//! rhythm, and a view → click → add → order funnel. Deterministic for a seed.
//!
//! Sessions are scheduled up front (a few bytes each); their events are generated only
//! when the session starts in event time, and merged so the output is time-ordered.

mod behaviour;
mod catalog;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use chrono::{DateTime, SecondsFormat};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Map, Value};

use behaviour::{Draft, SessionPlan, UserProfile};
pub use catalog::Product;

/// Shape of the synthetic shop.
#[derive(Debug, Clone, PartialEq)]
pub struct ShopConfig {
    pub users: usize,
    pub items: usize,
    pub categories: usize,
    /// Mean number of sessions per user.
    pub sessions_per_user: f64,
    pub seed: u64,
    /// Start of the simulated period, Unix milliseconds.
    pub start_ms: i64,
    pub days: u32,
}

impl Default for ShopConfig {
    fn default() -> Self {
        ShopConfig {
            users: 2_000,
            items: 500,
            categories: 12,
            sessions_per_user: 3.0,
            seed: 42,
            start_ms: 1_767_225_600_000, // 2026-01-01T00:00:00Z
            days: 7,
        }
    }
}

/// The generated shop: catalog, shoppers and their session schedule.
#[derive(Debug)]
pub struct Shop {
    pub config: ShopConfig,
    pub catalog: Vec<Product>,
    assortment: catalog::Assortment,
    by_id: HashMap<String, usize>,
    users: Vec<UserProfile>,
    by_key: HashMap<String, usize>,
    sessions: Vec<SessionPlan>,
}

impl Shop {
    pub fn new(config: ShopConfig) -> Shop {
        // Separate streams, so e.g. more users leaves the catalog unchanged.
        let mut catalog_rng = StdRng::seed_from_u64(key_stream(config.seed, 1));
        let (catalog, assortment) =
            catalog::build(config.items, config.categories, &mut catalog_rng);
        let mut user_rng = StdRng::seed_from_u64(key_stream(config.seed, 2));
        let (users, sessions) = behaviour::populate(&config, &assortment, &mut user_rng);
        let by_id = catalog
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.clone(), i))
            .collect();
        let by_key = users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.key().to_string(), i))
            .collect();
        Shop {
            config,
            catalog,
            assortment,
            by_id,
            users,
            by_key,
            sessions,
        }
    }

    pub fn product(&self, id: &str) -> Option<&Product> {
        self.by_id.get(id).map(|&i| &self.catalog[i])
    }

    /// All events in event-time order, deterministic for a seed. Each is a Segment `track`
    /// message with `messageId`, `anonymousId`, `userId` (for ~80% of users), `timestamp`
    /// (RFC 3339, millis, `Z`), `properties` and `context.library`.
    pub fn events(&self) -> impl Iterator<Item = Value> + '_ {
        EventStream {
            shop: self,
            next_session: 0,
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            message_ids: key_stream(self.config.seed, 3),
            counter: 0,
        }
    }

    /// The key used for each user: `userId` if set, else `anonymousId`.
    pub fn user_ids(&self) -> Vec<String> {
        self.users.iter().map(|u| u.key().to_string()).collect()
    }

    /// The categories a user (by the key from [`Shop::user_ids`]) prefers, with weights
    /// summing to 1, strongest first.
    pub fn preferred_categories(&self, user_key: &str) -> Option<Vec<(&str, f64)>> {
        let user = &self.users[*self.by_key.get(user_key)?];
        let cats = &self.assortment.categories;
        Some(
            user.prefs
                .iter()
                .map(|&(c, w)| (cats[c].as_str(), w))
                .collect(),
        )
    }
}

/// A session whose events are being emitted.
struct Active {
    user: usize,
    events: std::vec::IntoIter<Draft>,
    head: Option<Draft>,
}

/// K-way merge of the sessions that have started, in (time, session ordinal) order.
struct EventStream<'a> {
    shop: &'a Shop,
    next_session: usize,
    /// (time of the slot's head event, session ordinal, slot).
    heap: BinaryHeap<Reverse<(i64, u64, usize)>>,
    slots: Vec<Option<Active>>,
    free: Vec<usize>,
    message_ids: u64,
    counter: u64,
}

impl EventStream<'_> {
    fn start(&mut self, plan: &SessionPlan) {
        let shop = self.shop;
        let mut events = behaviour::session_events(
            &shop.catalog,
            &shop.assortment,
            &shop.users[plan.user],
            plan,
            shop.config.seed,
        );
        // Sessions are generated in time order; keep the guarantee explicit.
        events.sort_by_key(|d| d.ms);
        let mut events = events.into_iter();
        let Some(head) = events.next() else {
            return;
        };
        let key = (head.ms.max(plan.start_ms), plan.ordinal);
        let active = Active {
            user: plan.user,
            events,
            head: Some(head),
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s] = Some(active);
                s
            }
            None => {
                self.slots.push(Some(active));
                self.slots.len() - 1
            }
        };
        self.heap.push(Reverse((key.0, key.1, slot)));
    }

    fn envelope(&mut self, user: usize, draft: Draft) -> Value {
        let user = &self.shop.users[user];
        let id = uuid_like(self.message_ids.wrapping_add(self.counter));
        self.counter += 1;
        let timestamp = DateTime::from_timestamp_millis(draft.ms)
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut m = Map::new();
        m.insert("type".into(), json!("track"));
        m.insert("event".into(), json!(draft.event));
        m.insert("messageId".into(), json!(id));
        if let Some(uid) = &user.user_id {
            m.insert("userId".into(), json!(uid));
        }
        m.insert("anonymousId".into(), json!(user.anonymous_id));
        m.insert("timestamp".into(), json!(timestamp));
        m.insert("properties".into(), draft.properties);
        m.insert(
            "context".into(),
            json!({"library": {"name": "tailor-synth", "version": "1"}}),
        );
        Value::Object(m)
    }
}

impl Iterator for EventStream<'_> {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        loop {
            let head_ms = self.heap.peek().map(|Reverse((ms, _, _))| *ms);
            if let Some(plan) = self.shop.sessions.get(self.next_session).copied() {
                // A session starting no later than the earliest pending event goes first:
                // all its events are at or after its start.
                if head_ms.is_none_or(|h| plan.start_ms <= h) {
                    self.next_session += 1;
                    self.start(&plan);
                    continue;
                }
            }
            let Reverse((_, ordinal, slot)) = self.heap.pop()?;
            let active = self.slots[slot]
                .as_mut()
                .expect("heap entries point at live slots");
            let draft = active.head.take().expect("live slots hold a head event");
            let user = active.user;
            match active.events.next() {
                Some(next) => {
                    self.heap
                        .push(Reverse((next.ms.max(draft.ms), ordinal, slot)));
                    active.head = Some(next);
                }
                None => {
                    self.slots[slot] = None;
                    self.free.push(slot);
                }
            }
            return Some(self.envelope(user, draft));
        }
    }
}

/// SplitMix64 finaliser: a bijection on u64, so distinct inputs give distinct outputs.
pub(crate) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Base of a per-seed, per-purpose id stream; add a counter to get the n-th key.
pub(crate) fn key_stream(seed: u64, tag: u64) -> u64 {
    mix(seed ^ mix(tag))
}

/// A version-4-shaped UUID whose 64 non-fixed "payload" bits are `mix(key)`, so distinct
/// keys give distinct ids.
pub(crate) fn uuid_like(key: u64) -> String {
    let h = mix(key);
    let r = mix(h ^ 0xD6E8_FEB8_6659_FD93);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:04x}{:08x}",
        h >> 32,
        (h >> 16) & 0xffff,
        r & 0xfff,
        8 | ((r >> 12) & 0x3),
        (r >> 14) & 0xfff,
        h & 0xffff,
        (r >> 26) & 0xffff_ffff,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn small(seed: u64) -> Shop {
        Shop::new(ShopConfig {
            users: 400,
            items: 200,
            categories: 8,
            days: 3,
            seed,
            ..ShopConfig::default()
        })
    }

    #[test]
    fn same_seed_same_events() {
        let a: Vec<Value> = small(7).events().collect();
        let b: Vec<Value> = small(7).events().collect();
        assert!(a.len() > 1_000, "only {} events", a.len());
        assert_eq!(a, b);
        let c: Vec<Value> = small(8).events().collect();
        assert_ne!(a, c);
    }

    #[test]
    fn message_ids_unique_and_uuid_shaped() {
        let events: Vec<Value> = small(1).events().collect();
        let ids: HashSet<&str> = events
            .iter()
            .map(|e| e["messageId"].as_str().expect("messageId is a string"))
            .collect();
        assert_eq!(ids.len(), events.len());
        for id in ids.iter().take(50) {
            let parts: Vec<usize> = id.split('-').map(str::len).collect();
            assert_eq!(parts, vec![8, 4, 4, 4, 12], "{id}");
            assert_eq!(&id[14..15], "4");
        }
    }

    #[test]
    fn events_are_time_ordered_segment_tracks() {
        let shop = small(2);
        let mut last = i64::MIN;
        for e in shop.events() {
            let ts = e["timestamp"].as_str().expect("timestamp is a string");
            assert_eq!(ts.len(), 24, "{ts}");
            assert!(ts.ends_with('Z'));
            let ms = DateTime::parse_from_rfc3339(ts)
                .expect("timestamp is RFC 3339")
                .timestamp_millis();
            assert!(ms >= last, "{ts} goes back in time");
            assert!(ms >= shop.config.start_ms);
            last = ms;
            assert_eq!(e["type"], "track");
            assert_eq!(e["context"]["library"]["name"], "tailor-synth");
            assert!(e["anonymousId"].is_string());
            let p = &e["properties"];
            match e["event"].as_str().expect("event name") {
                "Product Viewed" | "Product Clicked" => {
                    let product = shop
                        .product(p["product_id"].as_str().expect("product_id"))
                        .expect("known product");
                    assert_eq!(p["category"], product.category.as_str());
                    assert_eq!(p["currency"], "USD");
                    assert!(p["sku"].is_string() && p["price"].is_f64());
                }
                "Product Added" => {
                    assert!(p["quantity"].as_u64().is_some_and(|q| q >= 1));
                    assert!(p["cart_id"].is_string());
                }
                "Order Completed" => {
                    let lines = p["products"].as_array().expect("products[]");
                    assert!(!lines.is_empty());
                    assert!(lines.iter().all(|l| l["quantity"].as_u64().is_some()));
                    assert!(p["revenue"].as_f64().is_some_and(|r| r > 0.0));
                    assert!(p["order_id"].is_string() && p["currency"] == "USD");
                }
                "Product List Viewed" => {
                    let n = p["products"].as_array().expect("products[]").len();
                    assert!((1..=10).contains(&n));
                    assert!(p["list_id"].is_string() && p["category"].is_string());
                }
                other => panic!("unexpected event {other}"),
            }
        }
    }

    #[test]
    fn tiny_and_odd_configs_do_not_panic() {
        let base = ShopConfig {
            users: 1,
            items: 1,
            categories: 1,
            ..ShopConfig::default()
        };
        let odd = [
            base.clone(),
            ShopConfig {
                users: 0,
                ..base.clone()
            },
            ShopConfig {
                items: 0,
                ..base.clone()
            },
            ShopConfig {
                categories: 0,
                ..base.clone()
            },
            ShopConfig {
                days: 0,
                ..base.clone()
            },
            ShopConfig {
                sessions_per_user: 0.0,
                ..base.clone()
            },
            ShopConfig {
                sessions_per_user: f64::NAN,
                ..base.clone()
            },
            ShopConfig {
                users: 20,
                items: 3,
                categories: 40,
                ..base.clone()
            },
        ];
        for config in odd {
            let shop = Shop::new(config.clone());
            let n = shop.events().count();
            assert_eq!(shop.user_ids().len(), config.users);
            if config.items == 0 || config.users == 0 {
                assert_eq!(n, 0, "{config:?}");
            }
        }
        let shop = Shop::new(base);
        assert_eq!(
            shop.product("P00000").map(|p| p.category.as_str()),
            Some("shoes")
        );
        assert!(shop.product("P99999").is_none());
    }

    #[test]
    fn default_starts_2026() {
        let c = ShopConfig::default();
        let start = DateTime::from_timestamp_millis(c.start_ms).expect("valid start");
        assert_eq!(start.to_rfc3339(), "2026-01-01T00:00:00+00:00");
    }
}
