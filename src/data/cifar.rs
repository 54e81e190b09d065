//! CIFAR-10 readers: the official binary files and any `root/<class>/*.{png,jpg}` tree.

use std::path::{Path, PathBuf};

use super::ImageSet;
use crate::error::{Error, Result};

/// Bytes of one binary record: 1 label byte + 3·32·32 pixels (R plane, G plane, B plane).
pub const RECORD: usize = 1 + 3 * 32 * 32;
/// Class names in label order.
pub const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Read one official binary file (`data_batch_N.bin`, `test_batch.bin`).
pub fn read_binary_file(path: &Path, into: &mut ImageSet) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if bytes.is_empty() || bytes.len() % RECORD != 0 {
        return Err(Error::Data(format!(
            "{}: size {} bytes is not a multiple of the CIFAR-10 record size {RECORD} (truncated or not a CIFAR-10 binary file)",
            path.display(),
            bytes.len()
        )));
    }
    for rec in bytes.chunks_exact(RECORD) {
        if rec[0] >= 10 {
            return Err(Error::Data(format!(
                "{}: label {} out of range 0..10",
                path.display(),
                rec[0]
            )));
        }
        into.labels.push(rec[0].into());
        into.pixels.extend_from_slice(&rec[1..]);
    }
    Ok(())
}

/// Which split to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The training split (`data_batch_1.bin` .. `data_batch_5.bin`, or `train/`).
    Train,
    /// The test split (`test_batch.bin`, or `test/`).
    Test,
}

fn empty_set() -> ImageSet {
    ImageSet {
        channels: 3,
        size: 32,
        classes: CLASSES.iter().map(|s| s.to_string()).collect(),
        transform: super::Transform::cifar10(),
        ..Default::default()
    }
}

/// Whether `root` is (or contains) a directory of the official binary files.
pub fn is_binary(root: &Path) -> bool {
    binary_dir(root).is_some()
}

/// The directory that holds the binary files, if `root` is (or contains) one.
fn binary_dir(root: &Path) -> Option<PathBuf> {
    [root.to_path_buf(), root.join("cifar-10-batches-bin")]
        .into_iter()
        .find(|d| d.join("data_batch_1.bin").exists() || d.join("test_batch.bin").exists())
}

/// Read a split from `root`: a directory of official binary files (or its parent), or an
/// image-folder tree with `train/` and `test/` (each `<class>/*.{png,jpg}`).
pub fn load(root: &Path, split: Split) -> Result<ImageSet> {
    if !root.is_dir() {
        return Err(Error::Data(format!(
            "data directory {} does not exist",
            root.display()
        )));
    }
    if let Some(dir) = binary_dir(root) {
        let mut set = empty_set();
        let files: Vec<String> = match split {
            Split::Train => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
            Split::Test => vec!["test_batch.bin".into()],
        };
        for f in files {
            let p = dir.join(&f);
            if !p.exists() {
                return Err(Error::Data(format!(
                    "{}: missing CIFAR-10 binary file {f}",
                    dir.display()
                )));
            }
            read_binary_file(&p, &mut set)?;
        }
        return Ok(set);
    }
    let sub = root.join(match split {
        Split::Train => "train",
        Split::Test => "test",
    });
    if sub.is_dir() {
        let found = super::folder::scan_classes(&sub, super::folder::split_classes(root, &sub)?)?;
        return read_scan(&found, &sub);
    }
    Err(Error::Data(format!(
        "{}: no CIFAR-10 data found (expected data_batch_1.bin .. test_batch.bin, or train/ and test/ image folders)",
        root.display()
    )))
}

/// Read `root/<class>/*.{png,jpg,jpeg}` into memory ([`scan`](super::folder::scan)'s
/// classes and order); every image must be square and of one size.
pub fn load_image_folder(root: &Path) -> Result<ImageSet> {
    read_scan(&super::folder::scan(root)?, root)
}

/// Decode the images a scan of `root` found into memory.
pub(crate) fn read_scan(found: &super::folder::Scan, root: &Path) -> Result<ImageSet> {
    let mut set = ImageSet {
        channels: 3,
        size: 0,
        classes: found.classes.clone(),
        ..Default::default()
    };
    for (f, &label) in found.files.iter().zip(&found.labels) {
        let img = super::folder::decode(f)?;
        let (w, h) = img.dimensions();
        if w != h || (set.size != 0 && set.size != w as usize) {
            return Err(Error::Data(format!(
                "{}: image is {w}x{h}; all images must be square and of one size",
                f.display()
            )));
        }
        set.size = w as usize;
        let start = set.pixels.len();
        set.pixels.resize(start + 3 * (w * h) as usize, 0);
        super::folder::write_chw(&img, &mut set.pixels[start..]);
        set.labels.push(label);
    }
    if set.is_empty() {
        return Err(Error::Data(format!("{}: no images found", root.display())));
    }
    set.transform = super::folder::default_transform(&set.classes, set.size, false);
    Ok(set)
}
