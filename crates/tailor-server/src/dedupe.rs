//! `messageId` de-duplication, per event: a retried event is stored once however the SDK
//! regroups its batches. Memory is bounded (a fixed number of 128-bit id hashes, oldest
//! forgotten first); the window (default 24 h) is rebuilt from the log on start, so it
//! survives restarts.

use std::collections::hash_map::DefaultHasher;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};

use parking_lot::Mutex;
use rustc_hash::FxHashMap;

use crate::metrics as m;

const SHARDS: usize = 16;

/// A 128-bit hash of a message id (two independent SipHash runs with fixed keys: stable
/// across restarts, collisions negligible).
pub fn id_hash(id: &str) -> u128 {
    let mut a = DefaultHasher::new();
    id.hash(&mut a);
    let mut b = DefaultHasher::new();
    0x0007_a110_u32.hash(&mut b);
    id.hash(&mut b);
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

#[derive(Default)]
struct Shard {
    seen: FxHashMap<u128, i64>,
    order: VecDeque<(i64, u128)>,
}

impl Shard {
    /// Forgets ids older than `cutoff`, and the oldest until there is room for one more
    /// under `cap` (it runs before each insert, so a shard never holds more than `cap`).
    fn expire(&mut self, cutoff: i64, cap: usize) -> u64 {
        let mut evicted = 0;
        while let Some(&(t, h)) = self.order.front() {
            if t >= cutoff && self.seen.len() < cap {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&h) == Some(&t) {
                self.seen.remove(&h);
                if t >= cutoff {
                    evicted += 1;
                }
            }
        }
        evicted
    }
}

pub struct Dedupe {
    shards: Vec<Mutex<Shard>>,
    window_ms: i64,
    cap_per_shard: usize,
}

impl Dedupe {
    pub fn new(window_secs: u64, max_entries: usize) -> Self {
        Dedupe {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            window_ms: window_secs as i64 * 1000,
            cap_per_shard: (max_entries / SHARDS).max(1),
        }
    }

    fn shard(&self, h: u128) -> &Mutex<Shard> {
        &self.shards[(h as usize) % SHARDS]
    }

    /// Claims `h` at time `now_ms`: `true` if it was not seen within the window (the caller
    /// now owns it and must [`Dedupe::release`] it if the event is not stored after all).
    pub fn claim(&self, h: u128, now_ms: i64) -> bool {
        let mut s = self.shard(h).lock();
        let evicted = s.expire(now_ms - self.window_ms, self.cap_per_shard);
        if evicted > 0 {
            metrics::counter!(m::DEDUPE_EVICTED).increment(evicted);
        }
        if let Some(&t) = s.seen.get(&h) {
            if t >= now_ms - self.window_ms {
                return false;
            }
        }
        s.seen.insert(h, now_ms);
        s.order.push_back((now_ms, h));
        true
    }

    /// Forgets a claim whose event was not stored (append failed).
    pub fn release(&self, h: u128, claimed_at_ms: i64) {
        let mut s = self.shard(h).lock();
        if s.seen.get(&h) == Some(&claimed_at_ms) {
            s.seen.remove(&h);
        }
    }

    /// Records an id found in the log at start-up.
    pub fn remember(&self, h: u128, received_ms: i64, now_ms: i64) {
        if received_ms >= now_ms - self.window_ms {
            self.claim(h, received_ms);
        }
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().seen.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_once_within_the_window() {
        let d = Dedupe::new(10, 1000);
        let h = id_hash("m1");
        assert!(d.claim(h, 1_000));
        assert!(!d.claim(h, 2_000));
        assert!(d.claim(id_hash("m2"), 2_000));
        // After the window the id may be stored again.
        assert!(d.claim(h, 12_001));
        d.release(h, 12_001);
        assert!(d.claim(h, 12_002));
        assert_ne!(id_hash("a"), id_hash("b"));
    }

    #[test]
    fn memory_is_bounded() {
        let d = Dedupe::new(3600, 160);
        for i in 0..10_000 {
            d.claim(id_hash(&format!("id-{i}")), 1_000 + i);
        }
        assert!(d.len() <= 160, "len {}", d.len());
        // The most recent ids are still remembered.
        assert!(!d.claim(id_hash("id-9999"), 20_000));
    }
}
