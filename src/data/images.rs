//! [`Images`]: what `open` gives for a data directory — decoded into memory, or an image
//! folder streamed from disk — with the subsets the command line cuts.

use std::path::Path;

use super::folder::{ImageFolder, class_folders, scan_classes, scan_labelled, split_classes};
use super::{ImageData, ImageSet, Split, Transform, cifar};
use crate::error::{Error, Result};

/// A split of a data directory, in memory or streamed.
#[derive(Clone, Debug)]
pub enum Images {
    /// Decoded into memory (the binary files, or a folder whose images all have the
    /// requested size).
    Memory(ImageSet),
    /// An image folder decoded on demand.
    Folder(ImageFolder),
}

/// Read `split` of `root` for networks of input `size`: the CIFAR-10 binary files into
/// memory; an image folder into memory when its images are all square and of one size, at
/// least `size` (checked from the file headers; the loops subsample larger ones), else
/// streamed from disk ([`ImageFolder`]: shorter side resized to `size`, centre crop).
///
/// An image folder is `root/train/<class>/*` and `root/test/<class>/*` (or `root/val/`, as
/// ImageNet's). The test split may also be a flat folder of images with a label file
/// `root/test_labels.txt` / `root/val_labels.txt` (lines `<file> <class>`) or Kaggle's
/// `root/LOC_val_solution.csv` ([`scan_labelled`]); its
/// classes are then the training split's class folders.
pub fn open(root: &Path, split: Split, size: usize) -> Result<Images> {
    let names: &[&str] = match split {
        Split::Train => &["train"],
        Split::Test => &["test", "val"],
    };
    let sub = names.iter().map(|n| root.join(n)).find(|d| d.is_dir());
    let Some(sub) = sub.filter(|_| root.is_dir() && !cifar::is_binary(root)) else {
        return cifar::load(root, split).map(Images::Memory);
    };
    let found = if class_folders(&sub)?.is_empty() {
        let name = sub
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let candidates = [
            root.join(format!("{name}_labels.txt")),
            root.join("LOC_val_solution.csv"),
        ];
        let Some(labels) = candidates.iter().find(|p| p.is_file()) else {
            return Err(Error::Data(format!(
                "{}: no class folders; a flat folder of images needs a label file {} (lines `<file> <class>`) or {}",
                sub.display(),
                candidates[0].display(),
                candidates[1].display()
            )));
        };
        // Without a training split the flat folder has no class folders of its own: the
        // label file then names the classes.
        let classes = split_classes(root, &sub)?;
        scan_labelled(&sub, labels, (!classes.is_empty()).then_some(classes))?
    } else {
        scan_classes(&sub, split_classes(root, &sub)?)?
    };
    if found.common_size()?.is_some_and(|s| s >= size) {
        return cifar::read_scan(&found, &sub).map(Images::Memory);
    }
    ImageFolder::from_scan(found, size).map(Images::Folder)
}

impl Images {
    fn data(&self) -> &dyn ImageData {
        match self {
            Images::Memory(s) => s,
            Images::Folder(f) => f,
        }
    }

    /// The images at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Images {
        match self {
            Images::Memory(s) => Images::Memory(s.subset(idx)),
            Images::Folder(f) => Images::Folder(f.subset(idx)),
        }
    }

    /// The seeded training subset of `--max-images n` (as [`ImageSet::train_subset`]).
    pub fn train_subset(&self, n: usize, seed: u64) -> Images {
        self.subset(&super::loader::train_subset_indices(self.len(), n, seed))
    }

    /// The test subset of `--max-test-images n` (as [`ImageSet::test_subset`]).
    pub fn test_subset(&self, n: usize) -> Images {
        self.subset(&super::loader::test_subset_indices(self.len(), n))
    }

    /// Whether the images stream from disk.
    pub fn is_streamed(&self) -> bool {
        matches!(self, Images::Folder(_))
    }
}

impl ImageData for Images {
    fn len(&self) -> usize {
        self.data().len()
    }
    fn shape(&self) -> [usize; 3] {
        self.data().shape()
    }
    fn classes(&self) -> &[String] {
        self.data().classes()
    }
    fn label(&self, i: usize) -> usize {
        self.data().label(i)
    }
    fn read(&self, i: usize, out: &mut [u8]) -> Result<()> {
        self.data().read(i, out)
    }
    fn read_resized_crop(
        &self,
        i: usize,
        crop: &super::ResizedCrop,
        draws: &super::CropDraws,
        out: &mut [u8],
    ) -> Result<()> {
        self.data().read_resized_crop(i, crop, draws, out)
    }
    fn transform(&self) -> &Transform {
        self.data().transform()
    }
}
