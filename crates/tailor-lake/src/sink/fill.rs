//! Reading the log into the buffer, and waiting for new records.

use std::time::Duration;

use tailor_log::Log;

use super::buffer::Buffer;
use super::LakeSink;
use crate::layout::{DEAD_LETTER_TOPIC, EVENTS_TOPIC};
use crate::{Error, Result};

/// Records per log read.
const READ_BATCH: usize = 2_000;

impl LakeSink {
    /// Reads available records into `buf` until the log is drained (`false`) or the buffer
    /// reaches `roll_bytes` (`true`).
    pub(super) async fn fill(&self, log: &dyn Log, buf: &mut Buffer) -> Result<bool> {
        let roll = self.config.roll_bytes as usize;
        for topic in [EVENTS_TOPIC, DEAD_LETTER_TOPIC] {
            let partitions = match log.partitions(topic) {
                Ok(n) => n,
                Err(tailor_log::Error::UnknownTopic(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            for p in 0..partitions {
                if buf.position(topic, p).is_none() {
                    buf.init_position(topic, p, log.start_offset(topic, p)?);
                }
                loop {
                    if buf.bytes >= roll {
                        return Ok(true);
                    }
                    let from = buf.position(topic, p).unwrap_or(0);
                    let records = match log.read(topic, p, from, READ_BATCH) {
                        Ok(r) => r,
                        Err(tailor_log::Error::OffsetOutOfRange { start, end, .. }) => {
                            if from > end {
                                return Err(Error::AheadOfLog {
                                    topic: topic.to_owned(),
                                    partition: p,
                                    committed: from,
                                    end,
                                });
                            }
                            tracing::warn!(
                                topic,
                                partition = p,
                                from,
                                start,
                                "log records were deleted before the lake sink read them; skipping"
                            );
                            buf.skip_to(topic, p, start);
                            continue;
                        }
                        Err(e) => return Err(e.into()),
                    };
                    if records.is_empty() {
                        break;
                    }
                    if buf.add_all(&records, roll) < records.len() {
                        // The rest is read again after the flush.
                        return Ok(true);
                    }
                    // Let other tasks run between batches of CPU-bound decoding.
                    tokio::task::yield_now().await;
                }
            }
        }
        Ok(false)
    }
}

/// Resolves when any known partition has records past the buffer's position, or after
/// `timeout`.
pub(super) async fn wait_any(log: &dyn Log, buf: &Buffer, timeout: Duration) {
    let waits: Vec<_> = buf
        .positions
        .iter()
        .filter(|(topic, _)| log.partitions(topic).is_ok())
        .flat_map(|(topic, parts)| {
            parts
                .iter()
                .map(move |(p, off)| log.wait_for(topic, *p, *off, timeout))
        })
        .collect();
    if waits.is_empty() {
        tokio::time::sleep(timeout).await;
    } else {
        futures::future::select_all(waits).await;
    }
}
