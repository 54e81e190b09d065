//! Library errors. Every message names what is wrong and where (a JSON path, a file).

use std::path::PathBuf;

/// Errors of the dmasking library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A JSON document did not parse into the expected format (syntax, unknown field,
    /// wrong type, missing field). `path` is a JSON path such as `$.blocks[3].kernal`.
    #[error("{path}: {message}")]
    Json {
        /// Where in the document.
        path: String,
        /// What is wrong there.
        message: String,
    },
    /// A document parsed but describes an invalid network.
    #[error("{path}: {message}")]
    Invalid {
        /// Where in the document.
        path: String,
        /// What is wrong there.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// An unknown name (zoo model, backend, loss mode).
    #[error("{0}")]
    Unknown(String),
    /// A backend that this build does not contain.
    #[error("backend `{0}` was not compiled in; rebuild with `--features {0}`")]
    BackendMissing(String),
    /// A setting that cannot work (names the setting and what it needs).
    #[error("{0}")]
    Config(String),
    /// Data that does not fit the request: image shape, channel count, too few images.
    #[error("{0}")]
    Data(String),
    /// Training diverged (a NaN loss or probability), with what to lower.
    #[error("{0}")]
    Diverged(String),
    /// A run directory without a checkpoint where one is needed.
    #[error("{}: no checkpoint yet (the run has not finished an epoch)", .0.display())]
    NoCheckpoint(PathBuf),
    /// A Burn record (weights, optimizer state) could not be saved or loaded.
    #[error("{}: {what}: {source}", path.display())]
    Record {
        /// The record file or checkpoint directory.
        path: PathBuf,
        /// What was being saved or loaded ("saving supernet", ...).
        what: String,
        /// Burn's error.
        #[source]
        source: burn::store::RecordError,
    },
    /// The run was interrupted (Ctrl-C) after writing a checkpoint.
    #[error("interrupted; checkpoint written to {0}; continue with --resume")]
    Interrupted(PathBuf),
    /// A run without a run directory was stopped through its token (nothing saved).
    #[error("stopped (the run had no run directory, so nothing was saved)")]
    Stopped,
    /// Anything else that makes a request impossible, with its reason.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// An [`Error::Invalid`] at a JSON path.
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    /// An [`Error::Record`] for `path`.
    pub fn record(
        path: impl Into<PathBuf>,
        what: impl Into<String>,
        source: burn::store::RecordError,
    ) -> Self {
        Error::Record {
            path: path.into(),
            what: what.into(),
            source,
        }
    }

    /// An [`Error::Io`] for a file.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result with the library's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
