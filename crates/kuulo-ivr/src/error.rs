//! Errors of this crate.

use std::path::PathBuf;

use thiserror::Error;

use crate::diag::Report;

/// Why a survey script could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read survey script {}: {source}; check the path and the file's permissions", path.display())]
    Read {
        /// The script path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The script has errors; the report lists each with a hint.
    #[error("survey script has errors; fix them and run `kuulo check` again:\n{0}")]
    Invalid(Box<Report>),
}
