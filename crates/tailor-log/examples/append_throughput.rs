//! Durable append throughput of the embedded log, in the server's shape: 32 concurrent
//! callers, batches of 100 records of ~300-600 bytes, 4 partitions, fsync on.
//!
//! `cargo run --release -p tailor-log --example append_throughput -- [seconds] [dir]`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tailor_log::{EmbeddedLog, EmbeddedOptions, Error, Log, Record};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let tmp = tempfile_dir(args.next());
    let log = EmbeddedLog::open(&tmp, EmbeddedOptions::default())?;
    log.create_topic("events", 4)?;

    let acked = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for t in 0..32u64 {
        let (log, acked, refused) = (Arc::clone(&log), Arc::clone(&acked), Arc::clone(&refused));
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let records: Vec<Record> = (0..100)
                    .map(|i| {
                        n += 1;
                        let len = 300 + ((n * 7919) % 300) as usize;
                        Record::new(
                            format!("user-{}", (t * 1000 + i) % 5000),
                            Bytes::from(vec![b'x'; len]),
                            n as i64,
                        )
                    })
                    .collect();
                match log.append("events", records).await {
                    Ok(acks) => {
                        acked.fetch_add(acks.len() as u64, Ordering::Relaxed);
                    }
                    Err(Error::Backpressure) => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        }));
    }
    let start = Instant::now();
    for t in tasks {
        t.await.map_err(|e| Error::WriterFailed(e.to_string()))??;
    }
    let secs = start.elapsed().as_secs_f64();
    let n = acked.load(Ordering::Relaxed);
    println!(
        "{n} records durably appended in {secs:.2}s: {:.0} records/s ({} appends refused by backpressure)",
        n as f64 / secs,
        refused.load(Ordering::Relaxed)
    );
    log.close()?;
    drop(log);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

fn tempfile_dir(arg: Option<String>) -> std::path::PathBuf {
    arg.map(Into::into).unwrap_or_else(|| {
        std::env::temp_dir().join(format!("tailor-log-bench-{}", std::process::id()))
    })
}
