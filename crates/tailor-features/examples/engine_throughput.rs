//! Feature-engine throughput alone (no log, no decoding): the default e-commerce feature
//! set over a synthetic shop, one core.
//!
//! ```text
//! cargo run --release -p tailor-features --example engine_throughput -- [events] [items] [users] [partitions] [warm-up events]
//! ```
//! Defaults: 2,000,000 events, 10,000 items, 100,000 users, 1 partition, no warm-up (state
//! starts empty and grows during the timed run). With a warm-up, that many events of the
//! same stream are applied first, untimed, so the timed run sees a populated state, as a
//! long-running processor does. Uses mimalloc, as the `tailor` binary does (ADR 0004).
//!
//! `DROP=user_last_items,item_` leaves out the default features whose names start with
//! those prefixes: comparing runs shows what each feature costs.

use std::time::Instant;

use tailor_features::engine::bench::{run, synthetic_events};
use tailor_features::engine::{FeatureEngine, FeaturesConfig};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| {
            a.replace('_', "")
                .parse()
                .expect("arguments are whole numbers")
        })
        .collect();
    let arg = |i: usize, default: u64| args.get(i).copied().unwrap_or(default);
    let (n, items, users, partitions) = (
        arg(0, 2_000_000) as usize,
        arg(1, 10_000) as u32,
        arg(2, 100_000) as u32,
        arg(3, 1) as u32,
    );
    let warm = arg(4, 0) as usize;
    let started = Instant::now();
    let all = synthetic_events(warm + n, items, users, 42);
    let (warm_up, events) = all.split_at(warm);
    println!(
        "generated {} events ({items} items, {users} users) in {:.1}s",
        warm + n,
        started.elapsed().as_secs_f64()
    );
    let mut cfg = FeaturesConfig::default();
    if let Ok(drop) = std::env::var("DROP") {
        cfg.defaults = false;
        cfg.define = tailor_features::engine::default_definitions()
            .into_iter()
            .filter(|d| !drop.split(',').any(|p| d.name.starts_with(p)))
            .collect();
    }
    let mut engine = FeatureEngine::new(&cfg, partitions).expect("default definitions");
    if warm > 0 {
        let w = run(&mut engine, warm_up);
        println!(
            "warm-up: {warm} events, {} entities, ~{:.1} MiB",
            w.entities,
            w.state_bytes as f64 / (1024.0 * 1024.0)
        );
    }
    // As the embedded processor runs: serving reads the state in place, nothing is
    // materialized per batch (ADR 0008).
    engine.set_track_touched(false);
    let r = run(&mut engine, events);
    let cpu = r.cpu_seconds;
    println!(
        "applied {} events ({} interactions, {} late) in {:.2}s: {:.0} events/s",
        r.events, r.interactions, r.late_events, r.seconds, r.events_per_sec
    );
    if let Some(cpu) = cpu {
        println!(
            "  on-CPU {:.2}s: {:.0} events per CPU-second (excludes time waiting for a CPU)",
            cpu,
            r.events as f64 / cpu.max(1e-9)
        );
    }
    println!(
        "state: {} entities, ~{:.1} MiB",
        r.entities,
        r.state_bytes as f64 / (1024.0 * 1024.0)
    );
    let all = engine.entities();
    let started = Instant::now();
    let rows = engine.materialize(&all);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "materialized {} rows in {:.2}s: {:.0} rows/s",
        rows.len(),
        secs,
        rows.len() as f64 / secs.max(1e-9)
    );
    let bytes: usize = (0..engine.partitions().len() as u32)
        .filter_map(|p| engine.encode_partition(p))
        .map(|b| b.len())
        .sum();
    println!("encoded state: {:.1} MiB", bytes as f64 / (1024.0 * 1024.0));
}
