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
    #[error("interrupted; checkpoint written to {}", .0.display())]
    Interrupted(PathBuf),
    /// A run without a run directory was stopped through its token (nothing saved).
    #[error("stopped (the run had no run directory, so nothing was saved)")]
    Stopped,
    /// A budget band `budget · (1 ± tolerance)` that no network of the space reaches.
    #[error(
        "budget {budget:.3} {unit} (±{:.0} %) is outside the space's range {min:.3}–{max:.3} {unit}",
        tolerance * 100.0
    )]
    BudgetOutOfRange {
        /// The budget, in `unit`.
        budget: f64,
        /// Half-width of the band, as a fraction of the budget.
        tolerance: f64,
        /// The space's smallest network, in `unit`.
        min: f64,
        /// The space's largest network, in `unit`.
        max: f64,
        /// The cost's unit (`MFLOPs`).
        unit: String,
    },
    /// Fewer images than one batch where a loop needs one.
    #[error("{what}: fewer than one batch of {batch_size}")]
    TooFewImages {
        /// What was given.
        what: String,
        /// The batch size.
        batch_size: usize,
    },
    /// A network that is not one of a space's (or a benchmark's) networks.
    #[error("architecture {arch} is not {space}: {reason}")]
    NotInSpace {
        /// The architecture's name.
        arch: String,
        /// Where it was looked for: `in search space NAME` or `a network of BENCHMARK`.
        space: String,
        /// What differs.
        reason: String,
    },
    /// A new run's directory holds another run.
    #[error("{}: run directory already exists", .0.display())]
    RunExists(PathBuf),
    /// A directory that is not a run directory (of the kind needed).
    #[error("{}: {reason}", path.display())]
    NotARun {
        /// The directory.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// An error in a file, named (a JSON document of a run, a metrics line).
    #[error("{}: {error}", file.display())]
    InFile {
        /// The file.
        file: PathBuf,
        /// What is wrong in it.
        error: Box<Error>,
    },
    /// The data set could not be downloaded (or downloads are off: `DMASKING_OFFLINE`).
    #[error("download failed: {0}")]
    Download(String),
    /// A network that the ONNX lowering cannot express.
    #[error("export: {0}")]
    Export(String),
    /// A plot could not be drawn.
    #[error("{}: plotting: {message}", path.display())]
    Plot {
        /// The image file.
        path: PathBuf,
        /// The plotting library's message.
        message: String,
    },
    /// The data worker thread ended before the epoch did.
    #[error("the data worker stopped before the end of the epoch")]
    DataWorkerStopped,
    /// A latency table without an entry a network needs.
    #[error(
        "the latency table has no entry `{key}`; measure the space's pieces with `dmasking latency table --space SPACE`"
    )]
    LatencyMissing {
        /// The piece's key.
        key: String,
    },
    /// ONNX Runtime could not be found, loaded or run.
    #[error("ONNX Runtime: {0}")]
    OnnxRuntime(String),
    /// An I/O error without a file to name (a stream, a pipe).
    #[error("{0}")]
    Stream(#[from] std::io::Error),
    /// Tensor data of an unexpected type or shape (Burn's `DataError`).
    #[error("tensor data: {0:?}")]
    TensorData(burn::tensor::DataError),
}

impl From<burn::tensor::DataError> for Error {
    fn from(e: burn::tensor::DataError) -> Self {
        Error::TensorData(e)
    }
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

    /// `self` as found in `file` ([`Error::InFile`]).
    pub fn in_file(self, file: impl Into<PathBuf>) -> Self {
        Error::InFile {
            file: file.into(),
            error: Box::new(self),
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
