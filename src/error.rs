//! Library errors. Every message names what is wrong and where (a JSON path, a file).

use std::path::PathBuf;

/// Errors of the dmasking library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A JSON document did not parse into the expected format (syntax, unknown field,
    /// wrong type, missing field). `path` is a JSON path such as `$.blocks[3].kernal`.
    #[error("{path}: {message}")]
    Json { path: String, message: String },
    /// A document parsed but describes an invalid network.
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An unknown name (zoo model, backend, loss mode).
    #[error("{0}")]
    Unknown(String),
    /// A backend that this build does not contain.
    #[error("backend `{0}` was not compiled in; rebuild with `--features {0}`")]
    BackendMissing(String),
    /// The run was interrupted (Ctrl-C) after writing a checkpoint.
    #[error("interrupted; checkpoint written to {0}; continue with --resume")]
    Interrupted(PathBuf),
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
