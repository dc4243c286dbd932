//! Synthetic shoppers: category preferences, session schedules with a diurnal rhythm, and the
//! browse → click → add → order funnel inside a session.

use rand::distributions::{Distribution, WeightedIndex};
use rand::rngs::StdRng;
use rand::Rng;
use rand::SeedableRng;
use serde_json::{json, Map, Value};

use super::catalog::{Assortment, Product};
use super::{key_stream, uuid_like, ShopConfig};

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
/// Relative session starts per hour of the day (UTC taken as the shoppers' local time).
const HOURLY: [f64; 24] = [
    2.0, 1.2, 0.7, 0.5, 0.5, 0.8, 1.5, 2.5, 3.5, 4.0, 4.5, 5.0, 5.5, 5.0, 4.5, 4.5, 4.8, 5.2, 6.0,
    7.0, 7.5, 6.5, 5.0, 3.5,
];
/// Share of users who are logged in (have a `userId`).
const P_IDENTIFIED: f64 = 0.8;
/// Share of views that land in a preferred category.
const P_PREFERRED: f64 = 0.86;
/// Chance that the next view stays in the previous view's category.
const P_STAY: f64 = 0.7;
/// Chance of continuing after each view (geometric session length, capped).
const P_CONTINUE: f64 = 0.78;
const MAX_VIEWS: usize = 15;
const P_LIST: f64 = 0.35;
const P_CLICK: f64 = 0.3;
const P_ADD_PREFERRED: f64 = 0.09;
const P_ADD_OTHER: f64 = 0.035;
const P_ORDER: f64 = 0.35;
const MAX_SESSIONS: usize = 200;

const TAG_SESSION: u64 = 0x5E55_1000;
const TAG_CART: u64 = 0xCA27_0000;
const TAG_ORDER: u64 = 0x0D0E_2000;

/// One generated shopper.
#[derive(Debug)]
pub(crate) struct UserProfile {
    pub(crate) user_id: Option<String>,
    pub(crate) anonymous_id: String,
    /// Preferred categories with weights summing to 1, strongest first.
    pub(crate) prefs: Vec<(usize, f64)>,
}

impl UserProfile {
    /// The key the user is known by: `userId` if set, else `anonymousId`.
    pub(crate) fn key(&self) -> &str {
        self.user_id.as_deref().unwrap_or(&self.anonymous_id)
    }

    fn prefers(&self, c: usize) -> bool {
        self.prefs.iter().any(|(p, _)| *p == c)
    }

    fn sample_pref(&self, rng: &mut StdRng) -> Option<usize> {
        let mut r = rng.gen::<f64>();
        for (c, w) in &self.prefs {
            if r < *w {
                return Some(*c);
            }
            r -= w;
        }
        self.prefs.last().map(|(c, _)| *c)
    }
}

/// When a session starts, whose it is and the seed of its own random stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionPlan {
    pub(crate) start_ms: i64,
    pub(crate) user: usize,
    /// Unique across the shop; breaks ties in event time.
    pub(crate) ordinal: u64,
    seed: u64,
}

/// An event before the envelope (ids, timestamp format) is put around it.
#[derive(Debug)]
pub(crate) struct Draft {
    pub(crate) ms: i64,
    pub(crate) event: &'static str,
    pub(crate) properties: Value,
}

/// Users and their sessions, sorted by start time.
pub(crate) fn populate(
    config: &ShopConfig,
    assortment: &Assortment,
    rng: &mut StdRng,
) -> (Vec<UserProfile>, Vec<SessionPlan>) {
    let anon_ids = key_stream(config.seed, 0xA002);
    let session_seeds = key_stream(config.seed, TAG_SESSION);
    let hours = WeightedIndex::new(HOURLY).expect("hourly weights are positive");
    let days = i64::from(config.days.max(1));
    let mean = config.sessions_per_user;
    let stocked = assortment.stocked_categories();

    let mut users = Vec::with_capacity(config.users);
    let mut sessions = Vec::new();
    for u in 0..config.users {
        let user_id = rng.gen_bool(P_IDENTIFIED).then(|| format!("u{u:06}"));
        let anonymous_id = uuid_like(anon_ids.wrapping_add(u as u64));

        let wanted = [1, 1, 2, 2, 2, 3, 3][rng.gen_range(0..7)].min(stocked);
        let mut prefs: Vec<(usize, f64)> = Vec::with_capacity(wanted);
        while prefs.len() < wanted {
            let taken: Vec<usize> = prefs.iter().map(|(c, _)| *c).collect();
            match assortment.sample_category_excluding(rng, &taken) {
                Some(c) if !taken.contains(&c) => prefs.push((c, rng.gen_range(0.2..1.0))),
                _ => break,
            }
        }
        prefs.sort_by(|a, b| b.1.total_cmp(&a.1));
        let total: f64 = prefs.iter().map(|(_, w)| w).sum();
        prefs.iter_mut().for_each(|(_, w)| *w /= total);

        // Geometric around the mean, at least one session when the mean is positive.
        let mut count = usize::from(mean > 0.0);
        if mean > 1.0 {
            let p_more = 1.0 - 1.0 / mean;
            while count < MAX_SESSIONS && rng.gen_bool(p_more) {
                count += 1;
            }
        }
        for _ in 0..count {
            let offset = rng.gen_range(0..days) * DAY_MS
                + hours.sample(rng) as i64 * HOUR_MS
                + rng.gen_range(0..HOUR_MS);
            let ordinal = sessions.len() as u64;
            sessions.push(SessionPlan {
                start_ms: config.start_ms.saturating_add(offset),
                user: u,
                ordinal,
                seed: session_seeds.wrapping_add(ordinal),
            });
        }
        users.push(UserProfile {
            user_id,
            anonymous_id,
            prefs,
        });
    }
    sessions.sort_by_key(|s| (s.start_ms, s.ordinal));
    (users, sessions)
}

/// The session's events in time order, all at or after `plan.start_ms`.
pub(crate) fn session_events(
    products: &[Product],
    assortment: &Assortment,
    user: &UserProfile,
    plan: &SessionPlan,
    shop_seed: u64,
) -> Vec<Draft> {
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let mut out = Vec::new();
    let Some(mut cat) = pick_category(&mut rng, assortment, user) else {
        return out;
    };
    let mut t = plan.start_ms;

    // Some sessions open on a category listing.
    let mut list: Option<(String, Vec<usize>)> = None;
    if rng.gen_bool(P_LIST) {
        let k = rng.gen_range(5..=10);
        let items = assortment.sample_distinct(&mut rng, cat, k);
        let list_id = format!("{}-listing", assortment.categories[cat]);
        let listed: Vec<Value> = items
            .iter()
            .enumerate()
            .map(|(pos, &i)| {
                let mut p = product_props(&products[i]);
                p.insert("position".into(), json!(pos + 1));
                Value::Object(p)
            })
            .collect();
        out.push(Draft {
            ms: t,
            event: "Product List Viewed",
            properties: json!({
                "list_id": list_id,
                "category": assortment.categories[cat],
                "products": listed,
            }),
        });
        t += rng.gen_range(3_000..=20_000);
        list = Some((list_id, items));
    }

    let cart_id = uuid_like(key_stream(shop_seed, TAG_CART).wrapping_add(plan.ordinal));
    let mut cart: Vec<(usize, u32)> = Vec::new();
    let mut previous: Option<usize> = None;
    let mut views = 1;
    while views < MAX_VIEWS && rng.gen_bool(P_CONTINUE) {
        views += 1;
    }
    for v in 0..views {
        if v > 0 {
            t += rng.gen_range(2_000..=30_000);
            if !rng.gen_bool(P_STAY) {
                cat = pick_category(&mut rng, assortment, user).unwrap_or(cat);
            }
        }
        let from_list = list
            .as_ref()
            .filter(|(_, items)| v == 0 && !items.is_empty() && rng.gen_bool(0.6))
            .map(|(_, items)| items[rng.gen_range(0..items.len())]);
        let mut pick = from_list.or_else(|| assortment.sample_item(&mut rng, cat));
        // Viewing the same product twice in a row is rare: draw again (a few times at most).
        for _ in 0..3 {
            if pick.is_none() || pick != previous {
                break;
            }
            pick = assortment.sample_item(&mut rng, cat);
        }
        let Some(item) = pick else {
            continue;
        };
        previous = Some(item);
        let product = &products[item];

        if rng.gen_bool(P_CLICK) {
            let mut p = product_props(product);
            if let Some((list_id, items)) = &list {
                p.insert("list_id".into(), json!(list_id));
                if let Some(pos) = items.iter().position(|i| *i == item) {
                    p.insert("position".into(), json!(pos + 1));
                }
            }
            out.push(draft(t, "Product Clicked", p));
            t += rng.gen_range(300..=1_500);
        }
        out.push(draft(t, "Product Viewed", product_props(product)));

        let p_add = if user.prefers(assortment.category_of[item]) {
            P_ADD_PREFERRED
        } else {
            P_ADD_OTHER
        };
        if rng.gen_bool(p_add) {
            t += rng.gen_range(2_000..=20_000);
            let quantity: u32 = if rng.gen_bool(0.12) { 2 } else { 1 };
            match cart.iter_mut().find(|(i, _)| *i == item) {
                Some((_, q)) => *q += quantity,
                None => cart.push((item, quantity)),
            }
            let mut p = product_props(product);
            p.insert("quantity".into(), json!(quantity));
            p.insert("cart_id".into(), json!(cart_id));
            out.push(draft(t, "Product Added", p));
        }
    }

    if !cart.is_empty() && rng.gen_bool(P_ORDER) {
        t += rng.gen_range(30_000..=240_000);
        out.push(order(products, &cart, &cart_id, shop_seed, plan.ordinal, t));
    }
    out
}

/// A preferred category most of the time, otherwise another one by popularity.
fn pick_category(rng: &mut StdRng, assortment: &Assortment, user: &UserProfile) -> Option<usize> {
    if !user.prefs.is_empty() && rng.gen_bool(P_PREFERRED) {
        return user.sample_pref(rng);
    }
    let taken: Vec<usize> = user.prefs.iter().map(|(c, _)| *c).collect();
    assortment.sample_category_excluding(rng, &taken)
}

fn order(
    products: &[Product],
    cart: &[(usize, u32)],
    cart_id: &str,
    shop_seed: u64,
    ordinal: u64,
    t: i64,
) -> Draft {
    let lines: Vec<Value> = cart
        .iter()
        .map(|&(i, q)| {
            let mut p = product_props(&products[i]);
            p.remove("currency");
            p.insert("quantity".into(), json!(q));
            Value::Object(p)
        })
        .collect();
    let subtotal = money(
        cart.iter()
            .map(|&(i, q)| products[i].price * f64::from(q))
            .sum(),
    );
    let shipping = if subtotal >= 100.0 { 0.0 } else { 4.95 };
    let tax = money(subtotal * 0.08);
    let order_id = format!(
        "{:016x}",
        super::mix(key_stream(shop_seed, TAG_ORDER).wrapping_add(ordinal))
    );
    Draft {
        ms: t,
        event: "Order Completed",
        properties: json!({
            "order_id": order_id,
            "cart_id": cart_id,
            "subtotal": subtotal,
            "revenue": subtotal,
            "shipping": shipping,
            "tax": tax,
            "total": money(subtotal + shipping + tax),
            "currency": "USD",
            "products": lines,
        }),
    }
}

fn draft(ms: i64, event: &'static str, properties: Map<String, Value>) -> Draft {
    Draft {
        ms,
        event,
        properties: Value::Object(properties),
    }
}

/// Segment e-commerce v2 product fields.
fn product_props(p: &Product) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("product_id".into(), json!(p.id));
    m.insert("sku".into(), json!(p.sku()));
    m.insert("category".into(), json!(p.category));
    m.insert("name".into(), json!(p.name));
    m.insert("price".into(), json!(p.price));
    m.insert("currency".into(), json!("USD"));
    m
}

fn money(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::super::{Shop, ShopConfig};
    use serde_json::Value;
    use std::collections::HashMap;

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

    fn count(events: &[Value], name: &str) -> usize {
        events.iter().filter(|e| e["event"] == name).count()
    }

    #[test]
    fn funnel_drops_off() {
        let events: Vec<Value> = small(3).events().collect();
        let views = count(&events, "Product Viewed") as f64;
        let clicks = count(&events, "Product Clicked") as f64;
        let adds = count(&events, "Product Added") as f64;
        let orders = count(&events, "Order Completed") as f64;
        let lists = count(&events, "Product List Viewed") as f64;
        assert!(views > clicks && clicks > adds && adds > orders && orders > 0.0);
        assert!(
            (0.2..0.4).contains(&(clicks / views)),
            "clicks/views {}",
            clicks / views
        );
        assert!(
            (0.04..0.12).contains(&(adds / views)),
            "adds/views {}",
            adds / views
        );
        assert!(
            (0.1..0.6).contains(&(orders / adds)),
            "orders/adds {}",
            orders / adds
        );
        assert!(lists > 0.0 && lists < views);
        let identified = events.iter().filter(|e| e.get("userId").is_some()).count();
        let share = identified as f64 / events.len() as f64;
        assert!((0.7..0.9).contains(&share), "identified share {share}");
    }

    #[test]
    fn views_follow_preferences() {
        let shop = small(4);
        let mut per_user: HashMap<String, (usize, usize)> = HashMap::new();
        for e in shop.events().filter(|e| e["event"] == "Product Viewed") {
            let key = e
                .get("userId")
                .or_else(|| e.get("anonymousId"))
                .and_then(Value::as_str)
                .expect("user key");
            let prefs = shop.preferred_categories(key).expect("known user");
            let cat = e["properties"]["category"].as_str().expect("category");
            let entry = per_user.entry(key.to_string()).or_default();
            entry.0 += usize::from(prefs.iter().any(|(c, _)| *c == cat));
            entry.1 += 1;
        }
        let (hits, total) = per_user
            .values()
            .fold((0, 0), |(h, t), (uh, ut)| (h + uh, t + ut));
        let share = hits as f64 / total as f64;
        assert!((0.78..0.93).contains(&share), "preferred share {share}");
        let busy: Vec<_> = per_user.values().filter(|(_, t)| *t >= 5).collect();
        let coherent = busy.iter().filter(|(h, t)| 2 * h > *t).count();
        assert!(
            coherent * 10 >= busy.len() * 9,
            "{coherent} of {}",
            busy.len()
        );
        assert!(shop.user_ids().iter().all(|k| shop
            .preferred_categories(k)
            .is_some_and(|p| (1..=3).contains(&p.len()))));
    }

    #[test]
    fn sessions_follow_the_day() {
        let shop = small(5);
        let mut by_hour = [0usize; 24];
        for e in shop.events() {
            let ts = e["timestamp"].as_str().expect("timestamp");
            let hour: usize = ts[11..13].parse().expect("hour digits");
            by_hour[hour] += 1;
        }
        assert!(
            by_hour[3] + by_hour[4] < (by_hour[19] + by_hour[20]) / 3,
            "{by_hour:?}"
        );
    }
}
