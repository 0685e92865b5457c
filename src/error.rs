//! Library errors. Every error that comes from an input names the file and, where the
//! input is JSON, the JSON path and the line and column.

use std::path::PathBuf;

/// Every error of the library. Each names what it is about: the file (and where in it) for
/// an input, the context for a conversion.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading an input failed. The cause is in the message, not a `source()`: printed with
    /// its chain (`{:#}`), an error would otherwise say its cause twice.
    #[error("{path}: cannot read: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        cause: std::io::Error,
    },

    /// Writing an output failed; nothing was left under `path` (see [`crate::fsio`]).
    #[error("{path}: cannot write: {cause}")]
    Write {
        /// The output.
        path: PathBuf,
        /// Why it cannot be written.
        cause: std::io::Error,
    },

    /// JSON that does not parse, or does not fit the model.
    #[error("{path}:{line}:{column}: {json_path}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The line (from 1).
        line: usize,
        /// The column (from 1).
        column: usize,
        /// Where in the document, e.g. `[3].intermediate_steps[17].payload.event_type`
        /// (`.` for the document itself).
        json_path: String,
        /// What is wrong there.
        message: String,
    },

    /// A file that parses but is not what it must be (a policy, a configuration, a report).
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// The file is JSON but no trace (a NAT output, a list of numbers…): a corpus walk skips
    /// it with this reason instead of failing.
    #[error("{path}: {message}")]
    NotATrace {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        message: String,
    },

    /// Counted on the bytes read: a file system's length can be 0 (devices, `/proc`).
    #[error("{path}: file is over the limit of {limit} bytes (raise it with --max-file-size)")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit, in bytes.
        limit: u64,
    },

    /// A trace that loads but cannot be converted.
    #[error("{context}: {message}")]
    Convert {
        /// The file and request.
        context: String,
        /// Why.
        message: String,
    },

    /// Anything else, said in full.
    #[error("{0}")]
    Other(String),
}

/// The library's result.
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
