//! Data when no directory is given: the official CIFAR-10 binary archive, downloaded once
//! into a cache directory (reporting progress to the caller); offline, a demo-sized real
//! subset that is embedded in the library (1,000 training and 200 test images taken from
//! CIFAR-10). Nothing here prints: the caller shows the progress and
//! [`DefaultData::describe`].

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};

/// The official binary archive (162 MB).
pub const CIFAR10_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";

/// Bytes of one full official file: 10,000 records of 3,073 bytes.
const FULL_FILE: u64 = 10_000 * 3_073;

const FILES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];

/// The embedded demo subset (data/cifar10-mini): 200 records per file.
const DEMO: [&[u8]; 6] = [
    include_bytes!("../../data/cifar10-mini/data_batch_1.bin"),
    include_bytes!("../../data/cifar10-mini/data_batch_2.bin"),
    include_bytes!("../../data/cifar10-mini/data_batch_3.bin"),
    include_bytes!("../../data/cifar10-mini/data_batch_4.bin"),
    include_bytes!("../../data/cifar10-mini/data_batch_5.bin"),
    include_bytes!("../../data/cifar10-mini/test_batch.bin"),
];

/// Where downloads go: `$DMASKING_CACHE`, else `$XDG_CACHE_HOME/dmasking`, else
/// `~/.cache/dmasking`, else the system temp dir.
pub fn cache_dir() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("DMASKING_CACHE")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("dmasking")))
        .or_else(|| env("HOME").map(|d| d.join(".cache/dmasking")))
        .unwrap_or_else(|| std::env::temp_dir().join("dmasking"))
}

/// The data a command reads when it was given no directory.
#[derive(Clone, Debug, PartialEq)]
pub enum DefaultData {
    /// The full CIFAR-10 binary files (cached or just downloaded).
    Full(PathBuf),
    /// The embedded demo subset, written out to `dir`, and why the full data is not
    /// there.
    Demo {
        /// Where the subset was written.
        dir: PathBuf,
        /// Why the full CIFAR-10 could not be had (offline, download failed, ...).
        why: String,
    },
}

impl DefaultData {
    /// The data directory.
    pub fn path(&self) -> &Path {
        match self {
            DefaultData::Full(p) | DefaultData::Demo { dir: p, .. } => p,
        }
    }

    /// What a program should tell its user about this data (the demo subset is not a
    /// benchmark).
    pub fn describe(&self) -> String {
        match self {
            DefaultData::Full(dir) => format!("data: CIFAR-10 from the cache {}", dir.display()),
            DefaultData::Demo { dir, why } => format!(
                "data: no full CIFAR-10 ({why}).\n      Using the embedded DEMO-SIZED subset (1,000 training and 200 test images of CIFAR-10) in {}: \
                 results on it are a demo, not a benchmark.\n      For real runs pass --data DIR (the official binary files or an image folder with train/ and test/).",
                dir.display()
            ),
        }
    }
}

/// Download progress: bytes received so far and the total, when the server says it.
pub type Progress<'a> = &'a mut dyn FnMut(u64, Option<u64>);

fn complete(dir: &Path) -> bool {
    FILES
        .iter()
        .all(|f| std::fs::metadata(dir.join(f)).is_ok_and(|m| m.len() == FULL_FILE))
}

/// The full CIFAR-10 binary files in the cache, downloading them first if needed
/// (`progress` is told as the bytes arrive). `DMASKING_OFFLINE=1` forbids the download.
pub fn cifar10(progress: Progress<'_>) -> Result<PathBuf> {
    let cache = cache_dir();
    let dir = cache.join("cifar-10-batches-bin");
    if complete(&dir) {
        return Ok(dir);
    }
    if std::env::var_os("DMASKING_OFFLINE").is_some_and(|v| v != "0") {
        return Err(Error::Download("DMASKING_OFFLINE is set".into()));
    }
    std::fs::create_dir_all(&cache).map_err(|e| Error::io(&cache, e))?;
    let archive = cache.join("cifar-10-binary.tar.gz");
    if !archive.exists() {
        download(CIFAR10_URL, &archive, progress)?;
    }
    let tmp = cache.join(format!(".extract-{}", std::process::id()));
    std::fs::remove_dir_all(&tmp).ok();
    let file = std::fs::File::open(&archive).map_err(|e| Error::io(&archive, e))?;
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(&tmp)
        .map_err(|e| {
            // A damaged archive is downloaded again next time.
            std::fs::remove_file(&archive).ok();
            Error::Download(format!("{}: unpacking: {e}", archive.display()))
        })?;
    let got = tmp.join("cifar-10-batches-bin");
    if !complete(&got) {
        std::fs::remove_dir_all(&tmp).ok();
        std::fs::remove_file(&archive).ok();
        return Err(Error::Download(format!(
            "{}: the archive does not hold the six official files of {FULL_FILE} bytes",
            archive.display()
        )));
    }
    std::fs::remove_dir_all(&dir).ok();
    std::fs::rename(&got, &dir).map_err(|e| Error::io(&dir, e))?;
    std::fs::remove_dir_all(&tmp).ok();
    std::fs::remove_file(&archive).ok();
    Ok(dir)
}

/// Download `url` to `target` (temp file, then rename), telling `progress`.
fn download(url: &str, target: &Path, progress: Progress<'_>) -> Result<()> {
    let fail = Error::Download;
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(10))
        .timeout_read(Duration::from_secs(60))
        .build();
    let resp = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
    let len = resp
        .header("Content-Length")
        .and_then(|v| v.parse::<u64>().ok());
    let tmp = target.with_extension("part");
    let mut out = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let mut reader = resp.into_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut done = 0u64;
    progress(0, len);
    loop {
        let n = reader.read(&mut buf).map_err(|e| fail(e.to_string()))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).map_err(|e| Error::io(&tmp, e))?;
        done += n as u64;
        progress(done, len);
    }
    drop(out);
    std::fs::rename(&tmp, target).map_err(|e| Error::io(target, e))
}

/// The embedded demo subset, written once to `cache_dir()/cifar10-demo`.
pub fn demo() -> Result<PathBuf> {
    let dir = cache_dir().join("cifar10-demo");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    for (name, bytes) in FILES.iter().zip(DEMO) {
        let p = dir.join(name);
        if std::fs::metadata(&p).is_ok_and(|m| m.len() == bytes.len() as u64) {
            continue;
        }
        crate::run::write_atomic(&p, bytes)?;
    }
    Ok(dir)
}

/// The data to read without `--data`: full CIFAR-10 (cached, or downloaded now with
/// `progress`), else the embedded demo subset.
pub fn default_data(progress: Progress<'_>) -> Result<DefaultData> {
    match cifar10(progress) {
        Ok(dir) => Ok(DefaultData::Full(dir)),
        Err(e) => Ok(DefaultData::Demo {
            dir: demo()?,
            why: e.to_string(),
        }),
    }
}
