//! Membership in a Kafka consumer group: the group protocol decides which partitions of a
//! topic this process owns; the records themselves are read as before, by the log's
//! assigned readers at offsets the owner keeps with its state.
//!
//! The member's consumer subscribes and pauses every partition it is given, so it fetches
//! nothing: it exists for the heartbeats and rebalances. Partitions taken away are handed
//! to a hook *inside* the rebalance, before the group moves on, so the owner can checkpoint
//! them while it still owns them; the next owner then starts from that checkpoint.

use std::time::Duration;

use parking_lot::Mutex;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, TopicPartitionList};

use super::{unavailable, KafkaLog};
use crate::{Error, Membership, Result, RevokeHook};

#[derive(Default)]
struct Shared {
    assigned: Vec<u32>,
    /// Set by every change, cleared by [`GroupMember::poll`].
    changed: bool,
    rebalances: u64,
}

struct GroupContext {
    topic: String,
    on_revoke: RevokeHook,
    shared: Mutex<Shared>,
}

impl GroupContext {
    fn partitions(&self, tpl: &TopicPartitionList) -> Vec<u32> {
        let mut out: Vec<u32> = tpl
            .elements()
            .iter()
            .filter(|e| e.topic() == self.topic)
            .map(|e| e.partition() as u32)
            .collect();
        out.sort_unstable();
        out
    }
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let gone = self.partitions(tpl);
            if !gone.is_empty() {
                let offsets = (self.on_revoke)(&gone);
                // Still a member of this generation: the commit is accepted.
                if let Err(e) = commit(consumer, &self.topic, &offsets) {
                    tracing::warn!(error = %e, "could not commit the offsets of partitions handed over (their checkpoints hold them)");
                }
            }
            let mut s = self.shared.lock();
            s.assigned.retain(|p| !gone.contains(p));
            s.changed = true;
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                // Heartbeats only: the owner reads through the log's own readers.
                if let Err(e) = consumer.pause(tpl) {
                    tracing::warn!(error = %e, "could not pause the group member's partitions");
                }
                let mut s = self.shared.lock();
                s.assigned = self.partitions(tpl);
                s.changed = true;
                s.rebalances += 1;
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => tracing::warn!(error = %e, "consumer group rebalance failed"),
        }
    }
}

fn commit(
    consumer: &BaseConsumer<GroupContext>,
    topic: &str,
    offsets: &[(u32, u64)],
) -> rdkafka::error::KafkaResult<()> {
    if offsets.is_empty() {
        return Ok(());
    }
    let mut tpl = TopicPartitionList::new();
    for &(p, off) in offsets {
        tpl.add_partition_offset(topic, p as i32, rdkafka::Offset::Offset(off as i64))?;
    }
    consumer.commit(&tpl, rdkafka::consumer::CommitMode::Sync)
}

/// This process's membership in a consumer group over one topic ([`KafkaLog::group_member`]).
pub struct GroupMember {
    consumer: BaseConsumer<GroupContext>,
    brokers: String,
}

impl Membership for GroupMember {
    /// Call it at least every `max.poll.interval.ms` (5 minutes), or the group considers
    /// this member gone.
    fn poll(&self, timeout: Duration) -> Result<Option<Vec<u32>>> {
        // Paused partitions return no records; an error is the cluster's.
        if let Some(Err(e)) = self.consumer.poll(timeout) {
            return Err(unavailable(&self.brokers, "group membership", e));
        }
        let mut s = self.consumer.context().shared.lock();
        Ok(std::mem::take(&mut s.changed).then(|| s.assigned.clone()))
    }

    fn assigned(&self) -> Vec<u32> {
        self.consumer.context().shared.lock().assigned.clone()
    }

    fn rebalances(&self) -> u64 {
        self.consumer.context().shared.lock().rebalances
    }

    fn commit(&self, offsets: &[(u32, u64)]) -> Result<()> {
        commit(&self.consumer, &self.consumer.context().topic, offsets)
            .map_err(|e| unavailable(&self.brokers, "committing as a group member", e))
    }

    fn leave(self: Box<Self>) {
        self.consumer.unsubscribe();
        // The revocation is served by the next polls; bounded, the group may be gone.
        for _ in 0..20 {
            let _ = self.consumer.poll(Duration::from_millis(50));
            if self.assigned().is_empty() {
                break;
            }
        }
    }
}

impl KafkaLog {
    /// [`crate::Log::join_group`] as its concrete type: joins consumer group `group` on the logical topic `topic`. `session_timeout` is how
    /// long the group waits for a member that stopped answering (a killed process) before
    /// giving its partitions to the others; `on_revoke` receives partitions taken away.
    pub fn group_member(
        &self,
        group: &str,
        topic: &str,
        session_timeout: Duration,
        on_revoke: RevokeHook,
    ) -> Result<GroupMember> {
        crate::validate_name("group", group)?;
        let inner = &self.inner;
        inner.partitions(topic)?;
        let physical = inner.opts.physical(topic);
        let session_ms = session_timeout.as_millis().clamp(1_000, 300_000) as u64;
        let mut cfg = inner.opts.consumer(group);
        cfg.set("session.timeout.ms", session_ms.to_string())
            .set(
                "heartbeat.interval.ms",
                (session_ms / 4).max(250).to_string(),
            )
            .set("enable.auto.offset.store", "false")
            // Eager rebalancing: every member gives up its partitions (hook, checkpoint)
            // before any is assigned again. A member that stopped answering keeps none
            // past the session timeout.
            .set("partition.assignment.strategy", "range");
        let context = GroupContext {
            topic: physical.clone(),
            on_revoke,
            shared: Mutex::new(Shared::default()),
        };
        let consumer: BaseConsumer<GroupContext> =
            cfg.create_with_context(context)
                .map_err(|e| Error::Config {
                    field: "log.kafka".into(),
                    reason: format!("cannot create a group member: {e}"),
                })?;
        consumer
            .subscribe(&[&physical])
            .map_err(|e| unavailable(&inner.opts.brokers, "joining the group", e))?;
        Ok(GroupMember {
            consumer,
            brokers: inner.opts.brokers.clone(),
        })
    }
}
