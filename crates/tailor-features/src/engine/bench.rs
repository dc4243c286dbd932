//! Engine-alone throughput: a deterministic synthetic shop and a timed run, for
//! `tailor bench features` and `examples/engine_throughput.rs`. Not used by tests' asserts.

use std::time::Instant;

use serde::Serialize;
use tailor_event::{Interaction, InteractionKind};

use super::input::FeatureEvent;
use super::intern::stable_hash;
use super::FeatureEngine;

/// splitmix64: small, fast and stable, so the same seed gives the same events everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n) (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// Skewed towards small values (popular items): roughly a power law in [0, n).
    pub fn skewed(&mut self, n: u64) -> u64 {
        ((n as f64).powf(self.unit()) - 1.0) as u64 % n.max(1)
    }
}

/// Start of synthetic event time (2024-01-01T00:00:00Z).
pub const SYNTHETIC_START_MS: i64 = 1_704_067_200_000;

fn interaction(kind: InteractionKind, item: u64, rec: bool) -> Interaction {
    Interaction {
        kind,
        item_id: format!("item-{item}"),
        category: Some(format!("cat-{}", stable_hash(&item.to_le_bytes()) % 50)),
        price: Some(5.0 + (item % 100) as f64),
        quantity: (kind == InteractionKind::Purchase).then_some(1.0 + (item % 3) as f64),
        currency: None,
        order_id: None,
        rec_id: rec.then(|| "rec-1".to_owned()),
    }
}

/// `n` events of a shop with `items` items (skewed popularity) and `users` users: 60%
/// product views, 15% clicks, 8% add-to-carts, 3% orders (1–3 products), 10% recommendation
/// list views (4 impressions), 4% other events. Event time advances 10ms per event on
/// average; 5% of events arrive up to 2s out of order (within the default lateness).
pub fn synthetic_events(n: usize, items: u32, users: u32, seed: u64) -> Vec<FeatureEvent> {
    let mut rng = Rng::new(seed);
    let items = u64::from(items.max(1));
    let users = u64::from(users.max(1));
    let mut t = SYNTHETIC_START_MS;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        t += rng.below(20) as i64;
        let event_time_ms = if rng.below(20) == 0 {
            t - rng.below(2_000) as i64
        } else {
            t
        };
        let user = (users as f64 * rng.unit().powf(1.5)) as u64;
        let roll = rng.below(100);
        let mut item = || (items as f64 * rng.unit().powf(2.5)) as u64;
        let (name, interactions) = match roll {
            0..=59 => (
                "Product Viewed",
                vec![interaction(InteractionKind::View, item(), false)],
            ),
            60..=74 => (
                "Product Clicked",
                vec![interaction(InteractionKind::Click, item(), true)],
            ),
            75..=82 => (
                "Product Added",
                vec![interaction(InteractionKind::AddToCart, item(), false)],
            ),
            83..=85 => {
                let k = 1 + (i % 3);
                let products = (0..k)
                    .map(|_| interaction(InteractionKind::Purchase, item(), false))
                    .collect();
                ("Order Completed", products)
            }
            86..=95 => {
                let shown = (0..4)
                    .map(|_| interaction(InteractionKind::Impression, item(), true))
                    .collect();
                ("Product List Viewed", shown)
            }
            _ => ("Signed In", Vec::new()),
        };
        let anonymous = user.is_multiple_of(10);
        out.push(FeatureEvent {
            event: Some(name.to_owned()),
            user_id: (!anonymous).then(|| format!("user-{user}")),
            anonymous_id: anonymous.then(|| format!("anon-{user}")),
            event_time_ms,
            received_at_ms: t,
            interactions,
            properties: None,
        });
    }
    out
}

/// The partition of an actor key (stable; the benchmark's stand-in for the log's
/// partitioner).
pub fn partition_of(key: &str, partitions: u32) -> u32 {
    (stable_hash(key.as_bytes()) % u64::from(partitions.max(1))) as u32
}

/// Events per `apply_batch` call (the processor reads up to 2,000 records per step).
const BATCH: usize = 2_000;

/// What [`run`] measured.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub events: u64,
    pub interactions: u64,
    pub late_events: u64,
    pub seconds: f64,
    pub events_per_sec: f64,
    /// Time the applying thread spent on a CPU (Linux only), so a figure per CPU-second
    /// does not count time spent waiting for a core on a busy machine.
    pub cpu_seconds: Option<f64>,
    pub entities: u64,
    pub state_bytes: u64,
}

/// Applies `events` to `engine` (partitioned by actor key over its partitions, offsets
/// continuing from each partition's next offset) and times it.
pub fn run(engine: &mut FeatureEngine, events: &[FeatureEvent]) -> Throughput {
    let partitions = engine.partitions().len().max(1) as u32;
    let assigned: Vec<u32> = events
        .iter()
        .map(|e| partition_of(e.actor_key(), partitions))
        .collect();
    let mut offsets = engine.next_offsets();
    offsets.resize(partitions as usize, 0);
    // Partitions are independent: apply each one's events in order, in batches, as the
    // processor reads them.
    let mut per_partition: Vec<Vec<(u64, &FeatureEvent)>> = vec![Vec::new(); partitions as usize];
    for (e, &p) in events.iter().zip(&assigned) {
        let off = &mut offsets[p as usize];
        per_partition[p as usize].push((*off, e));
        *off += 1;
    }
    let mut outcomes = Vec::with_capacity(BATCH);
    let mut late = 0;
    let cpu_before = thread_cpu_secs();
    let started = Instant::now();
    for (p, list) in per_partition.iter().enumerate() {
        for batch in list.chunks(BATCH) {
            outcomes.clear();
            engine.apply_batch(p as u32, batch, &mut outcomes);
            late += outcomes.iter().filter(|o| o.late).count() as u64;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = thread_cpu_secs()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    let stats = engine.stats();
    Throughput {
        events: events.len() as u64,
        interactions: events.iter().map(|e| e.interactions.len() as u64).sum(),
        late_events: late,
        seconds,
        events_per_sec: events.len() as f64 / seconds.max(1e-9),
        cpu_seconds,
        entities: stats.iter().map(|s| s.entities).sum(),
        state_bytes: stats.iter().map(|s| s.approx_bytes).sum(),
    }
}

/// Time this thread has spent on a CPU (Linux `schedstat`), if available.
pub fn thread_cpu_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}
