//! Errors of the results store.

use std::path::PathBuf;

use thiserror::Error;

use crate::types::{CallId, CampaignId};

/// Why a store operation failed. Every variant leaves the store as it was:
/// each operation is one transaction.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database file could not be opened or set up.
    #[error("cannot open the results store {}: {source}; check the path, its permissions, and that the file is a kuulo results store", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file was written by a newer kuulo.
    #[error("the results store has schema version {found}, but this kuulo knows only up to {supported}; upgrade kuulo before opening it")]
    NewerSchema {
        /// Version in the file.
        found: u32,
        /// Newest version this build knows.
        supported: u32,
    },
    /// A phone number was not in E.164 form.
    #[error("{0:?} is not an E.164 number; normalise it first (for example 040 123 4567 becomes +358401234567)")]
    InvalidNumber(String),
    /// No campaign with this id.
    #[error("no campaign {0} in the results store; list campaigns with `kuulo report --db FILE`")]
    UnknownCampaign(CampaignId),
    /// The campaign's secret was purged, so no new pseudonym can be made.
    #[error("campaign {0} has been purged (its pseudonym secret is deleted); start a new campaign to call again")]
    Purged(CampaignId),
    /// No call with this id.
    #[error("no call {0} in the results store; record_call_start must come before answers and recordings")]
    UnknownCall(CallId),
    /// A recording path was absolute or climbed out of the recordings folder.
    #[error("recording path {} must be relative to the recordings folder, without `..`", .0.display())]
    BadRecordingPath(PathBuf),
    /// A recording file could not be deleted (a purge or an erasure).
    #[error("cannot delete the recording {}: {source}; check the recordings folder's permissions and run the command again (it resumes where it stopped)", path.display())]
    RecordingFile {
        /// The file.
        path: PathBuf,
        /// The file system's error.
        #[source]
        source: std::io::Error,
    },
    /// The recordings folder is missing while the store lists recordings
    /// in it: most likely the wrong folder was given, and purging the rows
    /// would leave the real files behind with nothing pointing at them.
    #[error("the recordings folder {} does not exist, but the store lists recordings in it; give the folder the calls were recorded to (--recordings)", .0.display())]
    NoRecordingsFolder(PathBuf),
    /// A row holds a value this build cannot read.
    #[error("the results store holds an unreadable value ({0}); it may have been edited by hand or by a newer kuulo")]
    Corrupt(String),
    /// Any other SQLite failure (disk full, file locked too long, ...).
    #[error("results store error: {0}; check free disk space and that no other program holds the file locked")]
    Sqlite(#[from] rusqlite::Error),
}
