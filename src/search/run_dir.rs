//! The run directory: created fresh (never overwriting a run unless forced), with atomic
//! writes (temp file + rename) and an append-only `metrics.jsonl`.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A run directory.
pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    /// Create `path` for a new run. An existing non-empty directory is an error unless
    /// `force`, in which case its files are left in place and overwritten one by one.
    pub fn create(path: &Path, force: bool) -> Result<Self> {
        if path.exists() {
            let non_empty = std::fs::read_dir(path)
                .map_err(|e| Error::io(path, e))?
                .next()
                .is_some();
            if non_empty && !force {
                return Err(Error::Other(format!(
                    "{}: run directory already exists; pass --force to overwrite it",
                    path.display()
                )));
            }
            if force {
                let metrics = path.join("metrics.jsonl");
                if metrics.exists() {
                    std::fs::remove_file(&metrics).map_err(|e| Error::io(&metrics, e))?;
                }
            }
        }
        std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
        // Probe writability now rather than after the first epoch.
        let probe = path.join(".write-test");
        std::fs::write(&probe, b"").map_err(|e| Error::io(path, e))?;
        std::fs::remove_file(&probe).ok();
        Ok(RunDir {
            path: path.to_path_buf(),
        })
    }

    /// Write `name` atomically: a temp file in the same directory, then rename.
    pub fn write_atomic(&self, name: &str, contents: &str) -> Result<()> {
        let target = self.path.join(name);
        let tmp = self.path.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, contents).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &target).map_err(|e| Error::io(&target, e))
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
}
