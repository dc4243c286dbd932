//! Commands to a running processor, run between batches on its own thread: forgetting an
//! actor (GDPR erasure) — its feature entities, live session and online-store rows — and
//! writing a checkpoint without them before answering.

use tokio::sync::{mpsc, oneshot};

use super::Processor;
use crate::Result;

/// What forgetting one actor removed from the processor's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ForgetReport {
    /// Feature entities (user / anonymous id) dropped across partitions.
    pub feature_entities: u64,
    /// Sessions of the live model dropped.
    pub live_sessions: u64,
    /// Rows deleted from the materialized online store.
    pub online_rows: u64,
    /// Whether the feature state still holds the id as another entity's value (a feature
    /// listing actors); it leaves as those windows expire.
    pub still_referenced: bool,
}

pub(super) enum Command {
    Forget {
        id: String,
        reply: oneshot::Sender<Result<ForgetReport>>,
    },
}

/// Asks a running processor to do things between batches.
#[derive(Clone)]
pub struct ProcessorControl {
    pub(super) tx: mpsc::UnboundedSender<Command>,
}

impl ProcessorControl {
    /// Drops the actor `id`'s state (features, live session, online rows), then writes a
    /// checkpoint, so a restart cannot bring it back; resolves once that checkpoint is
    /// durable. Records of `id` not applied yet are skipped if the erasure list covers them.
    pub async fn forget(&self, id: &str) -> Result<ForgetReport> {
        let (reply, rx) = oneshot::channel();
        let stopped = || crate::Error::Stopped;
        self.tx
            .send(Command::Forget {
                id: id.to_owned(),
                reply,
            })
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

impl Processor {
    /// Drops the actor `id`'s state under the locks (see [`ProcessorControl::forget`]).
    pub(super) fn forget(&self, id: &str) -> Result<ForgetReport> {
        let mut state = self.state.write();
        let mut engine = self.engine.write();
        let (feature_entities, still_referenced) = engine.forget_actor(id);
        let live_sessions = u64::from(state.users.remove(id).is_some());
        let mut online_rows = 0;
        if let Some(store) = &self.store {
            let ids = [id.to_owned()];
            online_rows += store.delete("user", &ids)?;
            online_rows += store.delete("anonymous_id", &ids)?;
        }
        Ok(ForgetReport {
            feature_entities,
            live_sessions,
            online_rows,
            still_referenced,
        })
    }

    /// Runs one command; a forget waits for the checkpoint in flight, then writes its own.
    pub(super) async fn command(
        &self,
        cmd: Command,
        pending: &mut Option<tokio::task::JoinHandle<Result<()>>>,
    ) {
        match cmd {
            Command::Forget { id, reply } => {
                let result = match self.forget(&id) {
                    Ok(report) => {
                        if let Some(h) = pending.take() {
                            let _ = h.await;
                        }
                        self.checkpoint().await.map(|()| report)
                    }
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
        }
    }
}
