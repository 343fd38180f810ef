//! Carrying out the engine's [`StoreOp`]s on a results [`Store`], on a
//! thread of its own so SQLite commits and WAV writes never delay the
//! media clock of the shard.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::SystemTime;

use kuulo_campaign::{CallId, CampaignId, NewCampaign, Store, StoreError};
use kuulo_sip::ua::CallHandle;
use thiserror::Error;

use super::StoreOp;

/// Why a store write failed; the worker logs these and goes on, so one
/// bad write does not lose the next call's answers.
#[derive(Debug, Error)]
pub enum StoreWriteError {
    /// The database refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A recording could not be written.
    #[error(transparent)]
    Recording(#[from] kuulo_media::recording::RecordingError),
    /// The recordings folder could not be created.
    #[error("cannot create the recordings folder {}: {source}", path.display())]
    Folder {
        /// The folder.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// An operation named a call the store never saw start.
    #[error("store operation for a call that was never started")]
    UnknownCall,
}

/// What the worker did, for the summary line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StoreReport {
    /// Calls recorded.
    pub calls: u64,
    /// Answers stored.
    pub answers: u64,
    /// Recordings written.
    pub recordings: u64,
    /// Writes that failed (each is logged).
    pub errors: u64,
}

/// The campaign the calls of a run belong to: the newest one of this
/// survey in the store, or a new one, so repeated runs of an inbound
/// number add up in one campaign.
pub fn campaign_for(
    store: &mut Store,
    script_id: &str,
    title: &str,
) -> Result<CampaignId, StoreError> {
    if let Some(c) = store
        .campaigns()?
        .into_iter()
        .rev()
        // A purged campaign has no pseudonym secret left: a new round of
        // the same survey starts a new campaign.
        .find(|c| c.script_id == script_id && !c.purged)
    {
        return Ok(c.id);
    }
    store.create_campaign(&NewCampaign {
        script_id,
        title,
        created: SystemTime::now(),
        retention_until: None,
    })
}

/// Applies store operations in order on one [`Store`].
#[derive(Debug)]
pub struct StoreApplier {
    store: Store,
    campaign: CampaignId,
    recordings: PathBuf,
    /// The store's pseudonymous id of each live call, and the resident's
    /// number (needed only to honour an opt-out; never written).
    calls: HashMap<CallHandle, (CallId, Option<String>)>,
    /// Calls a campaign dialler recorded and will finish itself.
    adopted: HashSet<CallHandle>,
    report: StoreReport,
}

impl StoreApplier {
    /// Writes into `campaign`; recordings go to the `recordings` folder.
    pub fn new(store: Store, campaign: CampaignId, recordings: PathBuf) -> StoreApplier {
        StoreApplier {
            store,
            campaign,
            recordings,
            calls: HashMap::new(),
            adopted: HashSet::new(),
            report: StoreReport::default(),
        }
    }

    /// The pseudonymous id the store gave a call, while it runs.
    pub fn call_id(&self, call: CallHandle) -> Option<&CallId> {
        self.calls.get(&call).map(|(id, _)| id)
    }

    /// Counters so far.
    pub fn report(&self) -> &StoreReport {
        &self.report
    }

    /// Applies one operation; failures are logged and counted.
    pub fn apply(&mut self, op: StoreOp) {
        if let Err(e) = self.try_apply(op) {
            self.report.errors += 1;
            tracing::error!(error = %e, "results store write failed");
        }
    }

    fn try_apply(&mut self, op: StoreOp) -> Result<(), StoreWriteError> {
        let now = SystemTime::now();
        match op {
            StoreOp::CallStarted { call, number } => {
                let id = match &number {
                    Some(n) => self.store.record_call_start(self.campaign, n, now)?,
                    None => self.store.record_anonymous_call_start(self.campaign, now)?,
                };
                tracing::info!(store_call_id = %id, "call recorded");
                self.calls.insert(call, (id, number));
                self.report.calls += 1;
            }
            StoreOp::CallAdopted { call, id } => {
                self.calls.insert(call, (id, None));
                self.adopted.insert(call);
            }
            StoreOp::Answer {
                call,
                question,
                value,
            } => {
                let id = self.id(call)?.clone();
                self.store
                    .store_answer(&id, question.as_str(), &value, now)?;
                self.report.answers += 1;
            }
            StoreOp::Recording {
                call,
                question,
                recording,
            } => {
                let id = self.id(call)?.clone();
                std::fs::create_dir_all(&self.recordings).map_err(|source| {
                    StoreWriteError::Folder {
                        path: self.recordings.clone(),
                        source,
                    }
                })?;
                // Named by the pseudonymous call id and the question, never
                // by number.
                let name = format!("{id}-{}.wav", file_safe(question.as_str()));
                recording.write_wav(&self.recordings.join(&name))?;
                let ms = u64::try_from(recording.duration().as_millis()).unwrap_or(u64::MAX);
                self.store
                    .record_recording(&id, question.as_str(), Path::new(&name), ms)?;
                self.report.recordings += 1;
            }
            StoreOp::OptOut { call } => {
                // finish_call with the opted-out disposition puts queued
                // numbers on the do-not-call list; a caller of the inbound
                // number is in no queue, so mark the number here.
                let (id, number) = self.calls.get(&call).ok_or(StoreWriteError::UnknownCall)?;
                if let Some(n) = number {
                    let reason = format!("opted out on call {id}");
                    self.store.mark_do_not_call(n, &reason, now)?;
                }
            }
            StoreOp::CallFinished {
                call,
                disposition,
                sip_status,
                language,
            } => {
                let (id, _) = self
                    .calls
                    .remove(&call)
                    .ok_or(StoreWriteError::UnknownCall)?;
                if self.adopted.remove(&call) {
                    // The campaign dialler writes the end with the retry.
                    return Ok(());
                }
                self.store
                    .finish_call(&id, disposition, sip_status, language.as_deref(), now)?;
            }
        }
        Ok(())
    }

    fn id(&self, call: CallHandle) -> Result<&CallId, StoreWriteError> {
        self.call_id(call).ok_or(StoreWriteError::UnknownCall)
    }
}

/// Step ids are script names; keep only what is safe in a file name.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A [`StoreApplier`] on its own thread, fed through a channel.
#[derive(Debug)]
pub struct StoreWorker {
    tx: mpsc::Sender<StoreOp>,
    thread: JoinHandle<StoreReport>,
}

impl StoreWorker {
    /// Starts the thread.
    pub fn spawn(mut applier: StoreApplier) -> std::io::Result<StoreWorker> {
        let (tx, rx) = mpsc::channel::<StoreOp>();
        let thread = std::thread::Builder::new()
            .name("kuulo-store".into())
            .spawn(move || {
                for op in rx {
                    applier.apply(op);
                }
                applier.report
            })?;
        Ok(StoreWorker { tx, thread })
    }

    /// Queues an operation.
    pub fn send(&self, op: StoreOp) {
        // The thread only ends when we drop the sender, so this cannot fail
        // unless it panicked; the join in finish() reports that.
        let _ = self.tx.send(op);
    }

    /// Waits for every queued operation and returns the counters.
    pub fn finish(self) -> StoreReport {
        drop(self.tx);
        self.thread.join().unwrap_or_else(|_| {
            tracing::error!("results store thread panicked");
            StoreReport {
                errors: 1,
                ..StoreReport::default()
            }
        })
    }
}
