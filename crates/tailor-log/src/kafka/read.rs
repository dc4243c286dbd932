//! The reading side of [`KafkaLog`](super::KafkaLog): one assigned consumer per partition
//! read, kept positioned where the last read ended.

use super::*;

/// One partition's reader: an assigned consumer and where its next record is.
pub(super) struct PartReader {
    pub(super) consumer: BaseConsumer,
    /// The offset the consumer will return next, if it is positioned.
    pub(super) next: Option<u64>,
}

pub(super) type SharedReader = Arc<Mutex<PartReader>>;

impl Inner {
    pub(super) fn reader(&self, topic: &str, partition: u32) -> Result<SharedReader> {
        let key = (topic.to_owned(), partition);
        if let Some(r) = self.readers.lock().get(&key) {
            return Ok(r.clone());
        }
        let consumer: BaseConsumer = self
            .opts
            .consumer("tailor-reader")
            .set("enable.auto.offset.store", "false")
            .set("fetch.wait.max.ms", "50")
            .set("auto.offset.reset", "error")
            .create()
            .map_err(|e| self.unavailable("creating a reader", e))?;
        let reader = Arc::new(Mutex::new(PartReader {
            consumer,
            next: None,
        }));
        Ok(self.readers.lock().entry(key).or_insert(reader).clone())
    }

    pub(super) fn read(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>> {
        let (start, end) = self.watermarks(topic, partition)?;
        if offset < start || offset > end {
            return Err(Error::OffsetOutOfRange {
                topic: topic.to_owned(),
                partition,
                offset,
                start,
                end,
            });
        }
        if offset == end || max_records == 0 {
            return Ok(Vec::new());
        }
        let physical = self.opts.physical(topic);
        let reader = self.reader(topic, partition)?;
        let mut reader = reader.lock();
        if reader.next != Some(offset) {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&physical, partition as i32, Offset::Offset(offset as i64))
                .map_err(|e| self.unavailable("positioning a reader", e))?;
            reader
                .consumer
                .assign(&tpl)
                .map_err(|e| self.unavailable("positioning a reader", e))?;
            reader.next = Some(offset);
        }
        let topic_name: Arc<str> = Arc::from(topic);
        let deadline = Instant::now() + self.timeout;
        let mut out: Vec<StoredRecord> = Vec::with_capacity(max_records.min(4096));
        let mut next = offset;
        while out.len() < max_records && next < end {
            let wait = if out.is_empty() {
                deadline.saturating_duration_since(Instant::now())
            } else {
                Duration::ZERO
            };
            match reader.consumer.poll(wait) {
                None if out.is_empty() && Instant::now() < deadline => continue,
                None if out.is_empty() => {
                    reader.next = None;
                    return Err(self.unavailable(
                        "reading",
                        format!(
                            "no records arrived from {physical}/{partition} at offset {offset} within {:?}",
                            self.timeout
                        ),
                    ));
                }
                None => break,
                Some(Err(KafkaError::PartitionEOF(_))) => continue,
                Some(Err(e)) => {
                    reader.next = None;
                    return Err(self.unavailable("reading", e));
                }
                Some(Ok(msg)) => {
                    let at = msg.offset().max(0) as u64;
                    if at < next {
                        continue;
                    }
                    let headers = msg
                        .headers()
                        .map(|h| {
                            h.iter()
                                .map(|h| {
                                    (
                                        h.key.to_owned(),
                                        Bytes::copy_from_slice(h.value.unwrap_or_default()),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    out.push(StoredRecord {
                        topic: topic_name.clone(),
                        partition,
                        offset: at,
                        timestamp_ms: msg.timestamp().to_millis().unwrap_or(0),
                        key: Bytes::copy_from_slice(msg.key().unwrap_or_default()),
                        value: Bytes::copy_from_slice(msg.payload().unwrap_or_default()),
                        headers,
                    });
                    next = at + 1;
                }
            }
        }
        reader.next = Some(next);
        Ok(out)
    }
}
