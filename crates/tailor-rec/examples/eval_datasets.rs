//! Evaluates every model on the three public datasets: MovieLens 100K and Taobao with the
//! temporal protocol, YooChoose with the session protocol. Hyper-parameters are chosen on a
//! validation split carved from the training data (the same protocol applied to the
//! training part), never on the test split. Writes, under `--out` (default
//! `target/rec-eval`): each split as TSV for `bench/implicit_compare.py`, the chosen params,
//! the report as JSON and an SVG chart of HR@k, and prints the tables.
//!
//! cargo run --release -p tailor-rec --example eval_datasets -- \
//!     [--datasets DIR (default $TAILOR_DATASETS)] [--out target/rec-eval] [--threads 2] [--quick]
//!     [--only movielens|taobao|yoochoose]

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tailor_rec::data::{loaders, Interactions, KindWeights};
use tailor_rec::eval::{
    evaluate_fitted, export, metric_for, thin_cases, tune_all, Protocol, Report, TUNE_CASES,
};
use tailor_rec::model::ModelSpec;

struct Args {
    datasets: PathBuf,
    out: PathBuf,
    threads: usize,
    quick: bool,
    only: Option<String>,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        datasets: std::env::var_os("TAILOR_DATASETS")
            .map(PathBuf::from)
            .unwrap_or_default(),
        out: PathBuf::from("target/rec-eval"),
        threads: 2,
        quick: false,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().with_context(|| format!("{k} needs a value"));
        match k.as_str() {
            "--datasets" => a.datasets = val()?.into(),
            "--out" => a.out = val()?.into(),
            "--threads" => a.threads = val()?.parse()?,
            "--only" => a.only = Some(val()?),
            "--quick" => a.quick = true,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    Ok(a)
}

fn run(name: &str, data: &Interactions, protocol: Protocol, a: &Args) -> anyhow::Result<Report> {
    let metric = metric_for(&protocol);
    eprintln!(
        "{name}: {} rows, {} users, {} items",
        data.len(),
        data.n_users(),
        data.n_items()
    );
    let mut val = protocol.validation_split(data)?;
    thin_cases(&mut val, TUNE_CASES);
    let (mut specs, blend) = tune_all(name, &val, metric, a.threads, a.quick, &|line| {
        eprintln!("{line}")
    })?;
    drop(val);
    specs.push(ModelSpec::Blend(blend));
    let split = protocol.split(data)?;
    let dir = a
        .out
        .join("splits")
        .join(format!("{name}-{}", protocol.name()));
    export::write_split(&split, &dir, &KindWeights::default())?;
    let als = specs
        .iter()
        .find_map(|s| match s {
            ModelSpec::Als(p) => Some(p.clone()),
            _ => None,
        })
        .context("no als")?;
    std::fs::write(dir.join("params.json"), serde_json::to_string_pretty(&als)?)?;
    let mut fitted = Vec::new();
    for s in &specs {
        fitted.push(s.fit(&split.train)?);
    }
    let report = evaluate_fitted(&fitted, &split);
    let stem = a.out.join(format!("{name}-{}", protocol.name()));
    std::fs::write(stem.with_extension("json"), report.to_json())?;
    std::fs::write(stem.with_extension("svg"), report.hr_svg())?;
    std::fs::write(
        stem.with_extension("params.json"),
        serde_json::to_string_pretty(&specs)?,
    )?;
    Ok(report)
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    rayon::ThreadPoolBuilder::new()
        .num_threads(a.threads)
        .build_global()?;
    std::fs::create_dir_all(&a.out)?;
    let d = |p: &str| -> PathBuf { Path::new(&a.datasets).join(p) };
    type Loader = fn(&Path) -> tailor_rec::Result<Interactions>;
    let sets: [(&str, &str, Loader, Protocol); 3] = [
        (
            "movielens",
            "movielens-100k",
            loaders::movielens,
            Protocol::temporal(),
        ),
        (
            "taobao",
            "taobao-userbehavior",
            loaders::taobao,
            Protocol::temporal(),
        ),
        (
            "yoochoose",
            "yoochoose-rsc15",
            loaders::yoochoose,
            Protocol::session(),
        ),
    ];
    let mut tables = Vec::new();
    for (name, folder, load, protocol) in sets {
        if a.only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let data = load(&d(folder))?;
        let report = run(name, &data, protocol, &a)?;
        println!("{}", report.to_table());
        tables.push(report.to_table());
    }
    std::fs::write(a.out.join("tables.txt"), tables.join("\n"))?;
    eprintln!("wrote {}", a.out.display());
    Ok(())
}
