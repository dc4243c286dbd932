//! The producer side of [`KafkaLog`](super::KafkaLog): one idempotent producer, replaced when
//! a delivery failure makes it unusable, and all-or-nothing queuing of an append's records.

use super::*;

/// The producer, and whether the cluster refused it for good.
pub(super) struct Producing {
    pub(super) producer: FutureProducer,
    /// Set when a delivery failed in a way that makes this producer unsafe or useless
    /// ([`unusable_after`]); the next append replaces it.
    pub(super) poisoned: AtomicBool,
}

/// Delivery errors after which the producer is replaced rather than reused:
/// - the cluster refused its producer id or epoch (it lost or moved on from the producer's
///   sequence state, e.g. a broker restarted without it): librdkafka does not always raise
///   these as fatal, and every later record fails the same way;
/// - a record timed out (the cluster was away past `delivery.timeout.ms`): librdkafka then
///   bumps the producer's epoch and restarts its sequence numbers, which a broker that keeps
///   sequence state but not epochs (tansu 0.6 after a restart) takes for duplicates and
///   acknowledges without storing. A new producer id cannot be mistaken for an old one.
pub(super) fn unusable_after(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::OutOfOrderSequenceNumber
                | RDKafkaErrorCode::InvalidProducerEpoch
                | RDKafkaErrorCode::UnknownProducerId
                | RDKafkaErrorCode::InvalidProducerIdMapping
                | RDKafkaErrorCode::MessageTimedOut
        )
    )
}

impl Inner {
    /// The producer, replaced first if it hit a fatal error or a delivery failed in a way
    /// that makes it unusable ([`unusable_after`]): its appends in flight fail (503, the
    /// clients retry) and the next ones go through a fresh producer with a new producer id,
    /// instead of every append failing until a restart.
    pub(super) fn producer(&self) -> Result<Arc<Producing>> {
        let current = self.producer.read().clone();
        let reason = match current.producer.client().fatal_error() {
            Some((code, reason)) => format!("{code:?}: {reason}"),
            None if current.poisoned.load(Ordering::Acquire) => {
                "a delivery failed (timed out, or its producer id was refused)".to_owned()
            }
            None => return Ok(current),
        };
        let mut slot = self.producer.write();
        if Arc::ptr_eq(&slot, &current) {
            tracing::error!(%reason, "the Kafka producer cannot deliver any more; replacing it (appends in flight on it fail and are answered 503)");
            metrics::counter!(m::PRODUCER_RESTARTS_TOTAL).increment(1);
            let fresh = self
                .opts
                .producer()
                .map_err(|e| self.unavailable("replacing the producer", e))?;
            let old = std::mem::replace(
                &mut *slot,
                Arc::new(Producing {
                    producer: fresh,
                    poisoned: AtomicBool::new(false),
                }),
            );
            // Dropping purges and flushes (up to 500 ms): off the caller's path.
            std::thread::spawn(move || drop(old));
        }
        Ok(slot.clone())
    }

    /// Queues every record or none; returns their delivery futures.
    pub(super) fn enqueue(
        &self,
        topic: &str,
        records: Vec<Record>,
    ) -> Result<(Arc<Producing>, Vec<rdkafka::producer::DeliveryFuture>)> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        if records.len() > MAX_RECORDS_PER_APPEND {
            return Err(Error::TooManyRecords {
                count: records.len(),
                max: MAX_RECORDS_PER_APPEND,
            });
        }
        let max = self.opts.max_record_bytes as usize;
        for r in &records {
            let size = r.key.len()
                + r.value.len()
                + r.headers
                    .iter()
                    .map(|(k, v)| k.len() + v.len())
                    .sum::<usize>();
            if size > max {
                return Err(Error::RecordTooLarge { size, max });
            }
        }
        let partitions = self.partitions(topic)?;
        let physical = self.opts.physical(topic);
        let _one_at_a_time = self.enqueue.lock();
        let producer = self.producer()?;
        let queued = producer.producer.in_flight_count().max(0) as usize;
        metrics::gauge!(m::QUEUE_DEPTH).set(queued as f64);
        if queued + records.len() > self.opts.max_queued_records as usize {
            metrics::counter!(m::BACKPRESSURE_TOTAL).increment(1);
            return Err(Error::Backpressure);
        }
        let mut futures = Vec::with_capacity(records.len());
        for r in &records {
            let partition = partition_for_key(&r.key, partitions) as i32;
            let mut record = FutureRecord::to(&physical)
                .partition(partition)
                .key(&r.key[..])
                .payload(&r.value[..])
                .timestamp(r.timestamp_ms);
            if !r.headers.is_empty() {
                let mut h = OwnedHeaders::new_with_capacity(r.headers.len());
                for (key, value) in &r.headers {
                    h = h.insert(Header {
                        key,
                        value: Some(&value[..]),
                    });
                }
                record = record.headers(h);
            }
            match producer.producer.send_result(record) {
                Ok(f) => futures.push(f),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    // The byte bound was hit mid-batch: the records already queued will be
                    // delivered, the caller is told to retry (its retry is de-duplicated by
                    // message id upstream).
                    metrics::counter!(m::BACKPRESSURE_TOTAL).increment(1);
                    return Err(Error::Backpressure);
                }
                Err((e, _)) => return Err(self.unavailable("producing", e)),
            }
        }
        Ok((producer, futures))
    }
}
