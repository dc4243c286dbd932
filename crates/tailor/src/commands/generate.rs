//! `tailor generate`: synthetic shop events as Segment-format NDJSON.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::synth::{Shop, ShopConfig};

#[derive(Debug, Clone, clap::Args)]
pub struct ShopArgs {
    /// Users in the synthetic shop.
    #[arg(long, default_value_t = 2_000)]
    pub users: usize,
    /// Products in the catalog.
    #[arg(long, default_value_t = 500)]
    pub items: usize,
    /// Product categories.
    #[arg(long, default_value_t = 12)]
    pub categories: usize,
    /// Days of activity.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// Random seed (same seed, same events).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

impl ShopArgs {
    pub fn shop(&self) -> Shop {
        Shop::new(self.config())
    }

    /// The same shop, its days ending at the hour before `now_ms` (the demo: fresh data on
    /// any clock, so trending, freshness and the quality checks read as they would live).
    pub fn shop_ending_at(&self, now_ms: i64) -> Shop {
        let hour = 3_600_000;
        Shop::new(ShopConfig {
            start_ms: now_ms / hour * hour - i64::from(self.days) * 86_400_000,
            ..self.config()
        })
    }

    fn config(&self) -> ShopConfig {
        ShopConfig {
            users: self.users,
            items: self.items,
            categories: self.categories,
            days: self.days,
            seed: self.seed,
            ..ShopConfig::default()
        }
    }
}

pub const EXAMPLES: &str = "Examples:
  tailor generate --out shop.ndjson
  tailor generate --users 10000 --items 2000 --days 30 --seed 1 --out big.ndjson
  tailor generate --users 100 --days 1 | head";

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub shop: ShopArgs,
    /// Output file (default: standard output).
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Date the shop from 2026-01-01, the same file on every run (default: its days end at
    /// the current hour, so freshness, trending and the quality checks read as live data).
    #[arg(long)]
    pub fixed_dates: bool,
}

pub fn run(args: GenerateArgs) -> Result<()> {
    let shop = if args.fixed_dates {
        args.shop.shop()
    } else {
        args.shop
            .shop_ending_at(chrono::Utc::now().timestamp_millis())
    };
    let out: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::new(out);
    let mut n = 0u64;
    for e in shop.events() {
        serde_json::to_writer(&mut out, &e)?;
        out.write_all(b"\n")?;
        n += 1;
    }
    out.flush()?;
    if let Some(p) = &args.out {
        eprintln!("wrote {n} events to {}", p.display());
    }
    Ok(())
}
