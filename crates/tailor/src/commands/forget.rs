//! `tailor forget USER`: erases a user (GDPR) everywhere and prints the receipt.
//!
//! With `--url`, asks that running server (`DELETE /v1/users/USER`, the secret key from
//! `TAILOR_API_KEY`). Without it, opens the data directory itself: it starts every role on
//! a private loopback port, erases, and stops; a server already running on the directory
//! holds the log, and is then to be asked with `--url`.

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::config::{load, DataArgs};

pub const EXAMPLES: &str = "Examples:
  tailor forget u000042
  tailor forget anon-7f3a --data-dir /var/lib/tailor
  TAILOR_API_KEY=tk_s_... tailor forget u000042 --url http://127.0.0.1:8080";

#[derive(Debug, clap::Args)]
pub struct ForgetArgs {
    /// The user id (or anonymous id) to forget.
    pub user: String,
    /// A running server to ask instead of opening the data directory (its secret key in
    /// the environment variable TAILOR_API_KEY).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    #[command(flatten)]
    pub data: DataArgs,
}

pub async fn run(args: ForgetArgs) -> Result<()> {
    if let Err(m) = tailor_server::erasure::check_id(&args.user) {
        bail!("USER: {m}");
    }
    let receipt = match &args.url {
        Some(url) => remote(url, &args.user).await?,
        None => local(&args).await?,
    };
    println!("{}", serde_json::to_string_pretty(&receipt)?);
    Ok(())
}

async fn local(args: &ForgetArgs) -> Result<Value> {
    let cfg = load(&args.data, Some("127.0.0.1:0"))?;
    let dir = cfg.data_dir.display().to_string();
    let server = match tailor_server::start(cfg).await {
        Ok(s) => s,
        Err(tailor_server::Error::Log(e)) if e.to_string().contains("another process") => bail!(
            "the data directory {dir} is in use by a running server; ask it instead: \
             tailor forget USER --url http://HOST:PORT (with TAILOR_API_KEY set to a secret key)"
        ),
        Err(e) => return Err(e).context(format!("opening the data directory {dir}")),
    };
    let result = server.app.eraser.forget(&args.user).await;
    server.shutdown().await?;
    let receipt = result?;
    Ok(serde_json::to_value(receipt)?)
}

async fn remote(url: &str, user: &str) -> Result<Value> {
    let mut target =
        reqwest::Url::parse(url).with_context(|| format!("--url: {url:?} is not a URL"))?;
    target
        .path_segments_mut()
        .map_err(|()| anyhow::anyhow!("--url: {url:?} cannot take a path"))?
        .pop_if_empty()
        .extend(["v1", "users", user]);
    let mut req = reqwest::Client::new().delete(target.clone());
    if let Ok(key) = std::env::var("TAILOR_API_KEY") {
        req = req.bearer_auth(key);
    }
    let resp = req
        .timeout(std::time::Duration::from_secs(300))
        .send()
        .await
        .with_context(|| format!("asking {url}"))?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let why = body["message"].as_str().unwrap_or("no reason given");
        bail!("{url} answered {status}: {why}");
    }
    Ok(body)
}
