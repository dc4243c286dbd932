//! `tailor eval`: tunes every model on a validation split of a dataset, then trains them and
//! the tuned blend on the training split and compares them on the test split.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use tailor_rec::data::{loaders, Interactions};
use tailor_rec::eval::{evaluate_fitted, metric_for, thin_cases, tune_all, Protocol, TUNE_CASES};
use tailor_rec::model::ModelSpec;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProtocolArg {
    /// Next item in the sessions of the last days.
    Session,
    /// Each user's last distinct items held out.
    Temporal,
    /// Each user's last session held out, repeats included (what users buy again).
    NextBasket,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InFormat {
    /// MovieLens 100K `u.data` (or its directory).
    Movielens,
    /// YooChoose RSC15 as prepared by session-rec (directory with `*_train_full.txt`, `*_test.txt`).
    Yoochoose,
    /// Taobao `UserBehavior` CSV.
    Taobao,
    /// `user,item,timestamp[,kind[,category]]`, optional header.
    Csv,
}

impl InFormat {
    fn name(self) -> &'static str {
        match self {
            InFormat::Movielens => "movielens",
            InFormat::Yoochoose => "yoochoose",
            InFormat::Taobao => "taobao",
            InFormat::Csv => "csv",
        }
    }
}

pub const EXAMPLES: &str = "Examples:
  tailor eval --dataset movielens
  tailor eval --dataset yoochoose --protocol session --svg
  tailor eval --dataset interactions.csv --format-in csv --format json --quick
  tailor eval --dataset movielens --replay --surface for_you
  tailor eval --dataset movielens --replay --config replay.toml";

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// `movielens`, `yoochoose`, `taobao` (the public datasets in the folder that
    /// $TAILOR_DATASETS names) or a file/directory.
    #[arg(long, value_name = "PATH|movielens|yoochoose|taobao")]
    pub dataset: String,
    /// Evaluation protocol (default: session for yoochoose, temporal otherwise).
    #[arg(long, value_enum)]
    pub protocol: Option<ProtocolArg>,
    /// Temporal: distinct items held out per user (default 1). Session: days of test
    /// sessions (default 1).
    #[arg(long, value_name = "N")]
    pub holdout: Option<usize>,
    /// Output: a table or the report as JSON.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutFormat,
    /// Format of a `--dataset PATH` (default: guessed from the file name).
    #[arg(long, value_enum)]
    pub format_in: Option<InFormat>,
    /// Write the HR@k-vs-k chart (default file: eval-<dataset>-<protocol>.svg).
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    pub svg: Option<Option<PathBuf>>,
    /// Tune with one candidate per model family (fast, for smoke tests).
    #[arg(long)]
    pub quick: bool,
    /// Worker threads for training and evaluation.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Measure through the serving path instead: start a server, post the training events
    /// through the collector in event-time order, train, ask `GET /v1/recommendations` for
    /// each test case when it happens, and print the served figures next to the library's
    /// for the same blend and split.
    #[arg(long)]
    pub replay: bool,
    /// With --replay: the surface asked (its exclusion policy applies; default `next_item`
    /// for the session protocol, `buy_again` for next-basket, `home` otherwise).
    #[arg(long, value_name = "NAME", requires = "replay")]
    pub surface: Option<String>,
    /// With --replay: the replay server's configuration file (layered like `serve`'s:
    /// defaults, the file, `TAILOR__*` variables), e.g. `[recommend] live_weight = 0.0`
    /// or a `[models.blend]`; the library figure then uses the same blend.
    #[arg(long, value_name = "FILE", requires = "replay")]
    pub config: Option<PathBuf>,
}

/// Where the public datasets are: the folder `$TAILOR_DATASETS` names.
fn datasets_root(dataset: &str) -> Result<PathBuf> {
    match std::env::var_os("TAILOR_DATASETS") {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => bail!(
            "--dataset {dataset}: set TAILOR_DATASETS to the folder holding the public              datasets (movielens-100k/, yoochoose-rsc15/, taobao-userbehavior/), or pass the              dataset's file or directory"
        ),
    }
}

/// The format of a dataset path, from its name.
fn guess_format(path: &Path) -> Option<InFormat> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if name == "u.data" || name.contains("movielens") || path.join("u.data").is_file() {
        Some(InFormat::Movielens)
    } else if name.contains("yoochoose") || name.ends_with("_train_full.txt") {
        Some(InFormat::Yoochoose)
    } else if name.contains("userbehavior") || name.contains("taobao") {
        Some(InFormat::Taobao)
    } else if name.ends_with(".csv") {
        Some(InFormat::Csv)
    } else {
        None
    }
}

/// Resolves `--dataset` to (short name, path, format).
fn resolve(dataset: &str, format_in: Option<InFormat>) -> Result<(String, PathBuf, InFormat)> {
    let preset = match dataset {
        "movielens" => Some(("movielens-100k", InFormat::Movielens)),
        "yoochoose" => Some(("yoochoose-rsc15", InFormat::Yoochoose)),
        "taobao" => Some(("taobao-userbehavior", InFormat::Taobao)),
        _ => None,
    };
    if let Some((folder, format)) = preset {
        let path = datasets_root(dataset)?.join(folder);
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        if !path.exists() {
            bail!(
                "--dataset {dataset}: {} does not exist; set TAILOR_DATASETS to the directory \
                 holding {folder}/",
                path.display()
            );
        }
        return Ok((dataset.to_owned(), path, format));
    }
    let path = PathBuf::from(dataset);
    if !path.exists() {
        bail!(
            "--dataset {dataset}: no such file or directory (or use movielens, yoochoose, taobao)"
        );
    }
    let format = match format_in.or_else(|| guess_format(&path)) {
        Some(f) => f,
        None => bail!(
            "--dataset {dataset}: cannot tell the format from the file name; pass \
             --format-in movielens|yoochoose|taobao|csv"
        ),
    };
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| format.name().to_owned());
    Ok((stem, path, format))
}

fn load(path: &Path, format: InFormat) -> tailor_rec::Result<Interactions> {
    match format {
        InFormat::Movielens => loaders::movielens(path),
        InFormat::Yoochoose if path.is_file() => {
            loaders::yoochoose(path.parent().unwrap_or(Path::new(".")))
        }
        InFormat::Yoochoose => loaders::yoochoose(path),
        InFormat::Taobao => loaders::taobao(path),
        InFormat::Csv => loaders::csv(path),
    }
}

fn spinner(msg: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(msg.to_owned());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

pub fn run(args: EvalArgs) -> Result<()> {
    if args.threads == 0 {
        bail!("--threads must be at least 1");
    }
    let (name, path, format) = resolve(&args.dataset, args.format_in)?;
    if args.holdout == Some(0) {
        bail!("--holdout must be at least 1");
    }
    let chosen = args.protocol.unwrap_or(if format == InFormat::Yoochoose {
        ProtocolArg::Session
    } else {
        ProtocolArg::Temporal
    });
    if chosen == ProtocolArg::NextBasket && args.holdout.is_some() {
        bail!("--holdout does not apply to --protocol next-basket (the last session is held out)");
    }
    let protocol = match chosen {
        ProtocolArg::Session => Protocol::Session {
            test_days: args.holdout.unwrap_or(1) as f64,
        },
        ProtocolArg::Temporal => Protocol::Temporal {
            holdout: args.holdout.unwrap_or(1),
        },
        ProtocolArg::NextBasket => Protocol::NextBasket,
    };
    tailor_rec::set_threads(args.threads);

    let pb = spinner(&format!("loading {}", path.display()));
    let data = load(&path, format)?;
    pb.finish_and_clear();
    eprintln!(
        "{name} ({}): {} rows, {} users, {} items; {} protocol",
        path.display(),
        data.len(),
        data.n_users(),
        data.n_items(),
        protocol.name()
    );
    if args.replay {
        return replay(&args, &name, &data, &protocol);
    }
    let metric = metric_for(&protocol);

    let pb = spinner("tuning on the validation split");
    let mut val = protocol
        .validation_split(&data)
        .context("making the validation split (too little data for this protocol?)")?;
    thin_cases(&mut val, TUNE_CASES);
    let tuning_name = match format {
        InFormat::Csv => name.as_str(),
        f => f.name(),
    };
    let (mut specs, blend) = tune_all(
        tuning_name,
        &val,
        metric,
        args.threads,
        args.quick,
        &|line| {
            // A hidden bar (stderr not a terminal) drops println: print the line directly.
            if pb.is_hidden() {
                eprintln!("{line}");
            } else {
                pb.println(line);
            }
            pb.set_message(format!(
                "tuning on the validation split; done: {}",
                line.trim()
            ));
        },
    )?;
    drop(val);
    pb.finish_and_clear();
    specs.push(ModelSpec::Blend(blend));

    let split = protocol.split(&data).context("making the test split")?;
    let pb = ProgressBar::new(specs.len() as u64);
    pb.set_style(
        ProgressStyle::with_template("{spinner} training {msg} [{bar:20}] {pos}/{len} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.enable_steady_tick(Duration::from_millis(120));
    let mut fitted = Vec::new();
    for s in &specs {
        pb.set_message(s.name());
        fitted.push(s.fit(&split.train)?);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let pb = spinner(&format!("evaluating on {} test cases", split.cases.len()));
    let report = evaluate_fitted(&fitted, &split);
    pb.finish_and_clear();

    match args.format {
        OutFormat::Table => println!("{}", report.to_table()),
        OutFormat::Json => println!("{}", report.to_json()),
    }
    if let Some(svg) = args.svg {
        let file =
            svg.unwrap_or_else(|| PathBuf::from(format!("eval-{name}-{}.svg", protocol.name())));
        std::fs::write(&file, report.hr_svg())
            .with_context(|| format!("--svg: cannot write {}", file.display()))?;
        eprintln!("wrote {}", file.display());
    }
    Ok(())
}

/// `--replay`: the production blend as a library and through a real server, side by side.
fn replay(args: &EvalArgs, name: &str, data: &Interactions, protocol: &Protocol) -> Result<()> {
    use super::replay as r;
    if let Some(s) = args
        .surface
        .as_deref()
        .filter(|s| !tailor_rec::valid_surface(s))
    {
        bail!("--surface {s:?}: a surface name is a-z, 0-9, _ or -, at most 32");
    }
    let cfg = match &args.config {
        Some(file) => crate::config::load(
            &crate::config::DataArgs {
                config: Some(file.clone()),
                data_dir: None,
            },
            None,
        )?,
        None => tailor_server::Config::default(),
    };
    let split = protocol.split(data).context("making the test split")?;
    let pb = spinner("the library figure: training and evaluating the production blend");
    let library = r::library(&split, &cfg)?;
    pb.finish_and_clear();
    let served = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(r::replay(
            data,
            &split,
            cfg,
            args.surface.as_deref(),
            args.threads,
        ))
    })?;
    match args.format {
        OutFormat::Table => print!("{}", r::table(name, protocol, &library, &served)),
        OutFormat::Json => println!(
            "{}",
            serde_json::json!({
                "dataset": name,
                "protocol": protocol.name(),
                "surface": served.surface,
                "cases": served.cases,
                "library": library.metrics,
                "served": served.metrics,
                "short_answers": served.short,
                "served_items_already_had": served.had,
                "sources": served.sources,
            })
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_guessed_from_names() {
        let g = |p: &str| guess_format(Path::new(p));
        assert_eq!(g("/x/u.data"), Some(InFormat::Movielens));
        assert_eq!(
            g("/x/yoochoose-clicks_train_full.txt"),
            Some(InFormat::Yoochoose)
        );
        assert_eq!(g("UserBehavior_sample.csv"), Some(InFormat::Taobao));
        assert_eq!(g("shop.csv"), Some(InFormat::Csv));
        assert_eq!(g("events.parquet"), None);
    }

    #[test]
    fn bad_datasets_name_the_flag() {
        let e = resolve("/no/such/file.csv", None)
            .expect_err("missing")
            .to_string();
        assert!(e.contains("--dataset /no/such/file.csv"), "{e}");
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("events.bin");
        std::fs::write(&p, "x").expect("write");
        let e = resolve(&p.to_string_lossy(), None)
            .expect_err("unknown")
            .to_string();
        assert!(e.contains("--format-in"), "{e}");
        assert_eq!(
            resolve(&p.to_string_lossy(), Some(InFormat::Csv))
                .expect("given")
                .2,
            InFormat::Csv
        );
    }
}
