//! The run directory: created fresh (never overwriting a run unless forced), with atomic
//! writes (temp file + rename), an append-only `metrics.jsonl`, and checkpoints written as
//! a whole directory that replaces the previous one.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

/// Save `module`'s record to `path`. BN's running statistics (Burn's `RunningState`) keep
/// their latest update aside until they are next read, and a record takes the value
/// without it; `valid` merges it first (into the state every clone shares), so a resumed
/// run sees the statistics an uninterrupted one has.
pub fn save_module<M: burn::module::Module + Clone>(
    module: &M,
    path: &Path,
) -> std::result::Result<(), burn::store::RecordError> {
    let _ = module.valid();
    module.clone().save_file(path)
}

/// The position a checkpoint saves (search or training progress): what the loop driver
/// ([`drive`](super::drive)) reads and advances; each loop adds its own fields.
pub trait Position: Clone + Default + Serialize + serde::de::DeserializeOwned {
    /// The epoch in progress.
    fn epoch(&self) -> usize;
    /// Batches done in that epoch.
    fn batch(&self) -> usize;
    /// Steps done in the run.
    fn step(&self) -> usize;
    /// Training images seen so far.
    fn images(&self) -> usize;
    /// Seconds of the run before the current process.
    fn seconds(&self) -> f64;
    /// Lines of metrics.jsonl written so far.
    fn metrics_lines(&self) -> usize;
    /// Set the clock a checkpoint records: `seconds` of the run so far and the metrics
    /// lines written.
    fn stamp(&mut self, seconds: f64, metrics_lines: usize);
    /// One step (one batch of the epoch) is done.
    fn advance(&mut self);
    /// The epoch is done: the next starts at its first batch.
    fn next_epoch(&mut self);
}

/// What a run directory holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunKind {
    /// A search: `config.json` holds a `space`.
    Search,
    /// A training run: `config.json` holds an `arch`.
    Train,
}

/// A run directory.
#[derive(Clone, Debug)]
pub struct RunDir {
    /// Where it is.
    pub path: PathBuf,
    /// Made with `force` over an old run whose files go when this one starts.
    replace: bool,
}

impl RunDir {
    /// Create `path` for a new run. An existing non-empty directory is an error unless
    /// `force`, in which case the old run's files are removed when the new run starts
    /// writing (after its settings and data have been checked), not before.
    pub fn create(path: impl AsRef<Path>, force: bool) -> Result<Self> {
        let path = path.as_ref();
        let mut replace = false;
        if path.exists() {
            let non_empty = std::fs::read_dir(path)
                .map_err(|e| Error::io(path, e))?
                .next()
                .is_some();
            if non_empty && !force {
                return Err(Error::RunExists(path.to_path_buf()));
            }
            replace = non_empty;
        }
        std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
        let run = RunDir {
            path: path.to_path_buf(),
            replace,
        };
        run.probe()?;
        Ok(run)
    }

    /// Remove the files of the run this one replaces (`create` with `force`); called as
    /// the new run starts writing.
    pub(crate) fn clear_replaced(&self) -> Result<()> {
        if !self.replace {
            return Ok(());
        }
        for name in [
            "metrics.jsonl",
            "arch.json",
            "argmax.json",
            "config.json",
            "checkpoint",
            "checkpoint.old",
            "checkpoint.tmp",
            "best.bpk",
            "last.bpk",
            "eval.json",
            "report",
            "summary.json",
            "selection.json",
        ] {
            let p = self.path.join(name);
            if p.is_dir() {
                std::fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
            } else if p.exists() {
                std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            }
        }
        Ok(())
    }

    /// Open an existing run to resume it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if !path.join("config.json").exists() {
            return Err(Error::NotARun {
                path: path.to_path_buf(),
                reason: "not a run directory (no config.json) to resume".into(),
            });
        }
        let run = RunDir {
            path: path.to_path_buf(),
            replace: false,
        };
        run.probe()?;
        Ok(run)
    }

    fn probe(&self) -> Result<()> {
        let probe = self.path.join(".write-test");
        std::fs::write(&probe, b"").map_err(|e| Error::io(&self.path, e))?;
        std::fs::remove_file(&probe).ok();
        Ok(())
    }

    /// What the run is, from its `config.json`: a search (`space`) or a training run (`arch`).
    pub fn kind(&self) -> Result<RunKind> {
        let v: serde_json::Value = self.read_json("config.json")?;
        if v.get("space").is_some() {
            Ok(RunKind::Search)
        } else if v.get("arch").is_some() {
            Ok(RunKind::Train)
        } else {
            Err(Error::NotARun {
                path: self.path.clone(),
                reason:
                    "config.json: neither a search run (no `space`) nor a training run (no `arch`)"
                        .into(),
            })
        }
    }

    /// Parse a JSON file of the run; errors name the file and the JSON path.
    pub fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T> {
        let text = self.read(name)?;
        crate::json::parse(&text).map_err(|e| e.in_file(self.path.join(name)))
    }

    /// The run's `config.json` parsed as `T`, beside the raw document (so that a reader
    /// can tell a field an older version did not write from one set to its default).
    pub fn read_config<T: serde::de::DeserializeOwned>(&self) -> Result<(T, serde_json::Value)> {
        let text = self.read("config.json")?;
        let typed =
            crate::json::parse(&text).map_err(|e| e.in_file(self.path.join("config.json")))?;
        let raw = serde_json::from_str(&text).unwrap_or_default();
        Ok((typed, raw))
    }

    /// Write the run's `config.json`.
    pub fn write_config<C: Serialize>(&self, cfg: &C) -> Result<()> {
        let text = serde_json::to_string_pretty(cfg).expect("a run config serializes");
        self.write_atomic("config.json", &text)
    }

    /// Read a file of the run.
    pub fn read(&self, name: &str) -> Result<String> {
        let p = self.path.join(name);
        std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))
    }

    /// Write `name` atomically: a temp file in the same directory, then rename.
    pub fn write_atomic(&self, name: &str, contents: &str) -> Result<()> {
        write_atomic(&self.path.join(name), contents)
    }

    /// Append one JSON line to `metrics.jsonl`.
    pub fn append_metrics(&self, v: &serde_json::Value) -> Result<()> {
        let p = self.path.join("metrics.jsonl");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .map_err(|e| Error::io(&p, e))?;
        writeln!(f, "{v}").map_err(|e| Error::io(&p, e))
    }

    /// Keep the first `lines` lines of `metrics.jsonl` (those a checkpoint accounts for).
    pub fn truncate_metrics(&self, lines: usize) -> Result<()> {
        let p = self.path.join("metrics.jsonl");
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io(&p, e)),
        };
        let kept: String = text.lines().take(lines).map(|l| format!("{l}\n")).collect();
        write_atomic(&p, &kept)
    }

    /// Write a checkpoint: `fill` writes the tensors into a fresh directory, the progress
    /// goes in last, then the directory replaces the previous checkpoint.
    pub fn checkpoint<P: Serialize>(
        &self,
        progress: &P,
        fill: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<()> {
        let tmp = self.path.join("checkpoint.tmp");
        let cur = self.path.join("checkpoint");
        let old = self.path.join("checkpoint.old");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        fill(&tmp)?;
        let state = serde_json::to_string_pretty(progress).expect("progress serializes");
        write_atomic(&tmp.join("progress.json"), &state)?;
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
        }
        if cur.exists() {
            std::fs::rename(&cur, &old).map_err(|e| Error::io(&cur, e))?;
        }
        std::fs::rename(&tmp, &cur).map_err(|e| Error::io(&tmp, e))?;
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
        }
        Ok(())
    }

    /// Where a resumed run starts: the newest checkpoint and its progress, with
    /// `metrics.jsonl` cut back to the lines that checkpoint accounts for (`None`: no
    /// checkpoint yet, start from the beginning).
    pub fn resume_point<P: Position>(&self) -> Result<Option<(PathBuf, P)>> {
        let Some((dir, p)) = self.latest_checkpoint::<P>()? else {
            // Lines of a first epoch that never reached a checkpoint are dropped too.
            self.truncate_metrics(0)?;
            return Ok(None);
        };
        self.truncate_metrics(p.metrics_lines())?;
        Ok(Some((dir, p)))
    }

    /// The newest complete checkpoint and its progress, if any.
    pub fn latest_checkpoint<P: serde::de::DeserializeOwned>(
        &self,
    ) -> Result<Option<(PathBuf, P)>> {
        for name in ["checkpoint", "checkpoint.old"] {
            let dir = self.path.join(name);
            let p = dir.join("progress.json");
            if p.exists() {
                let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
                let progress = crate::json::parse(&text)?;
                return Ok(Some((dir, progress)));
            }
        }
        Ok(None)
    }
}

/// Write a file atomically: temp file beside it, then rename.
pub fn write_atomic(target: &Path, contents: impl AsRef<[u8]>) -> Result<()> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = target.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, contents.as_ref()).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, target).map_err(|e| Error::io(target, e))
}
