//! ALS training time per iteration on a dataset (64 factors by default), for comparing with
//! `bench/implicit_compare.py`'s figure on the same data.
//!
//! cargo run --release -p tailor-rec --example als_speed -- [taobao|movielens|yoochoose]
//!     [--threads 2] [--iterations 15] [--datasets DIR (default $TAILOR_DATASETS)]

use std::path::PathBuf;

use anyhow::Context as _;
use tailor_rec::data::loaders;
use tailor_rec::eval::Protocol;
use tailor_rec::model::{Als, AlsParams};

fn main() -> anyhow::Result<()> {
    let mut which = "taobao".to_owned();
    let mut threads = 2;
    let mut iterations = 15;
    let mut root = std::env::var_os("TAILOR_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_default();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--threads" => threads = it.next().context("--threads N")?.parse()?,
            "--iterations" => iterations = it.next().context("--iterations N")?.parse()?,
            "--datasets" => root = it.next().context("--datasets DIR")?.into(),
            other => which = other.to_owned(),
        }
    }
    let (data, protocol) = match which.as_str() {
        "movielens" => (
            loaders::movielens(&root.join("movielens-100k"))?,
            Protocol::temporal(),
        ),
        "yoochoose" => (
            loaders::yoochoose(&root.join("yoochoose-rsc15"))?,
            Protocol::session(),
        ),
        _ => (
            loaders::taobao(&root.join("taobao-userbehavior"))?,
            Protocol::temporal(),
        ),
    };
    let train = protocol.split(&data)?.train;
    let p = AlsParams {
        threads: Some(threads),
        iterations,
        ..AlsParams::default()
    };
    let m = Als::fit(&train, &p)?;
    let secs = &m.iteration_secs;
    let mut sorted = secs.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "{}: {} train rows, {} users, {} items, 64 factors, {threads} threads: \
         {:.4} s/iteration mean, {:.4} median, {:.4} min",
        train.name,
        train.len(),
        train.n_users(),
        train.n_items(),
        secs.iter().sum::<f64>() / secs.len().max(1) as f64,
        sorted[sorted.len() / 2],
        sorted[0]
    );
    Ok(())
}
