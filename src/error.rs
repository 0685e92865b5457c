//! Library errors. Every error that comes from an input names the file and, where the
//! input is JSON, the JSON path and the line and column.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The cause is in the message, not a `source()`: printed with its chain (`{:#}`), an
    /// error would otherwise say its cause twice.
    #[error("{path}: cannot read: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },

    /// Writing an output failed; nothing was left under `path` (see [`crate::fsio`]).
    #[error("{path}: cannot write: {cause}")]
    Write {
        path: PathBuf,
        cause: std::io::Error,
    },

    #[error("{path}:{line}:{column}: {json_path}: {message}")]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        /// Where in the document, e.g. `[3].intermediate_steps[17].payload.event_type`
        /// (`.` for the document itself).
        json_path: String,
        message: String,
    },

    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },

    /// The file is JSON but no trace (a NAT output, a list of numbers…): a corpus walk skips
    /// it with this reason instead of failing.
    #[error("{path}: {message}")]
    NotATrace { path: PathBuf, message: String },

    /// Counted on the bytes read: a file system's length can be 0 (devices, `/proc`).
    #[error("{path}: file is over the limit of {limit} bytes (raise it with --max-file-size)")]
    TooLarge { path: PathBuf, limit: u64 },

    #[error("{context}: {message}")]
    Convert { context: String, message: String },

    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The file the error is about, when there is one.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Error::Io { path, .. }
            | Error::Write { path, .. }
            | Error::Json { path, .. }
            | Error::Format { path, .. }
            | Error::NotATrace { path, .. }
            | Error::TooLarge { path, .. } => Some(path),
            _ => None,
        }
    }
}
