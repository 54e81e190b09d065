//! Image folders (`root/<class>/*.{png,jpg,jpeg}`), scanned once and decoded on demand:
//! memory holds the paths and labels, never the decoded images beyond a batch.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::imageops::FilterType;

use super::cifar::CLASSES;
use super::crop::crop_resize;
use super::image_set::{IMAGENET_MEAN, IMAGENET_STD};
use super::{CropDraws, ImageData, ResizedCrop, Transform};
use crate::error::{Error, Result};

/// The files of an image folder: classes (sorted folder names; the ten CIFAR-10 names
/// keep their label order), and every image file with its label, sorted by class and name.
#[derive(Clone, Debug)]
pub struct Scan {
    /// Class names in label order.
    pub classes: Vec<String>,
    /// Image files.
    pub files: Vec<PathBuf>,
    /// Class index of each file.
    pub labels: Vec<u32>,
}

/// Whether `p` has an image extension (png, jpg, jpeg, any case).
fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

/// The image files directly in `dir`, sorted.
fn images_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_image(p))
        .collect();
    found.sort();
    Ok(found)
}

/// The class folders of `root`, sorted (the ten CIFAR-10 names in their label order).
pub fn class_folders(root: &Path) -> Result<Vec<String>> {
    let mut classes: Vec<String> = std::fs::read_dir(root)
        .map_err(|e| Error::io(root, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    classes.sort();
    if !classes.is_empty() && classes.iter().all(|c| CLASSES.contains(&c.as_str())) {
        classes.sort_by_key(|c| CLASSES.iter().position(|k| k == c));
    }
    Ok(classes)
}

/// Scan `root/<class>/*.{png,jpg,jpeg}`.
pub fn scan(root: &Path) -> Result<Scan> {
    scan_classes(root, class_folders(root)?)
}

/// The classes every split of the data directory `root` is labelled with: the training
/// split's class folders where `root/train` exists, else `split`'s own (a test split that
/// lacks a class keeps the labels of the others).
pub fn split_classes(root: &Path, split: &Path) -> Result<Vec<String>> {
    let train = root.join("train");
    class_folders(if train.is_dir() { &train } else { split })
}

/// Scan `root/<class>/*.{png,jpg,jpeg}` labelled by their folder's position in `classes`;
/// a class folder not among `classes` is an error naming it.
pub fn scan_classes(root: &Path, classes: Vec<String>) -> Result<Scan> {
    if classes.is_empty() {
        return Err(Error::Data(format!("{}: no class folders", root.display())));
    }
    if let Some(extra) = class_folders(root)?
        .into_iter()
        .find(|c| !classes.contains(c))
    {
        return Err(Error::Data(format!(
            "{}: class folder `{extra}` is not a class of the training split",
            root.join(&extra).display()
        )));
    }
    let (mut files, mut labels) = (Vec::new(), Vec::new());
    for (label, class) in classes.iter().enumerate() {
        let dir = root.join(class);
        if !dir.is_dir() {
            continue;
        }
        let found = images_in(&dir)?;
        labels.extend(std::iter::repeat_n(label as u32, found.len()));
        files.extend(found);
    }
    if files.is_empty() {
        return Err(Error::Data(format!("{}: no images found", root.display())));
    }
    Ok(Scan {
        classes,
        files,
        labels,
    })
}

/// Scan a flat folder of images (`dir/*.{png,jpg,jpeg}`, as ImageNet's `val/` is
/// distributed) labelled by the text file `labels`: one `<file> <class>` per line,
/// separated by whitespace or a comma, the file named with or without its extension. A
/// header `ImageId,PredictionString` (Kaggle's `LOC_val_solution.csv`) is skipped, and there
/// the class is the first word of the second field. Classes are `classes` (the training
/// split's class folders) when given, else the label file's class names, sorted. Every
/// image needs a label and every label an image, of a known class.
pub fn scan_labelled(dir: &Path, labels: &Path, classes: Option<Vec<String>>) -> Result<Scan> {
    let text = std::fs::read_to_string(labels).map_err(|e| Error::io(labels, e))?;
    let bad = |line: usize, why: String| Error::Data(format!("{}:{line}: {why}", labels.display()));
    let mut by_name = std::collections::HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || (i == 0 && line.starts_with("ImageId,")) {
            continue;
        }
        let mut parts = line
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|p| !p.is_empty());
        let (Some(file), Some(class)) = (parts.next(), parts.next()) else {
            return Err(bad(i + 1, format!("`{line}` is not `<file> <class>`")));
        };
        let stem = Path::new(file)
            .file_stem()
            .map_or(file.into(), |s| s.to_string_lossy());
        if by_name
            .insert(stem.into_owned(), (class.to_string(), i + 1))
            .is_some()
        {
            return Err(bad(i + 1, format!("`{file}` is labelled twice")));
        }
    }
    let classes = classes.unwrap_or_else(|| {
        let mut c: Vec<String> = by_name.values().map(|(c, _)| c.clone()).collect();
        c.sort();
        c.dedup();
        c
    });
    let index: std::collections::HashMap<&str, u32> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i as u32))
        .collect();
    let files = images_in(dir)?;
    if files.is_empty() {
        return Err(Error::Data(format!("{}: no images found", dir.display())));
    }
    let mut out = Vec::with_capacity(files.len());
    for f in &files {
        let stem = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some((class, line)) = by_name.remove(&stem) else {
            return Err(Error::Data(format!(
                "{}: no label in {}",
                f.display(),
                labels.display()
            )));
        };
        let Some(&label) = index.get(class.as_str()) else {
            return Err(bad(
                line,
                format!("unknown class `{class}` (not a class folder of the training split)"),
            ));
        };
        out.push(label);
    }
    if let Some((name, (_, line))) = by_name.into_iter().min_by_key(|(_, (_, l))| *l) {
        return Err(bad(
            line,
            format!("`{name}` is not an image in {}", dir.display()),
        ));
    }
    Ok(Scan {
        classes,
        files,
        labels: out,
    })
}

impl Scan {
    /// The side s of the images when every one is s × s (read from the file headers
    /// only); `None` when their sizes differ or one is not square.
    pub fn common_size(&self) -> Result<Option<usize>> {
        let mut common = None;
        for f in &self.files {
            let (w, h) = image::image_dimensions(f)
                .map_err(|e| Error::Data(format!("{}: {e}", f.display())))?;
            if w != h || common.is_some_and(|c| c != w) {
                return Ok(None);
            }
            common = Some(w);
        }
        Ok(common.map(|c| c as usize))
    }
}

/// Decode image file `f` to RGB; an error names the file.
pub fn decode(f: &Path) -> Result<image::RgbImage> {
    Ok(image::open(f)
        .map_err(|e| Error::Data(format!("{}: {e}", f.display())))?
        .to_rgb8())
}

/// Write an RGB image into `out` in CHW order (`3 · width · height` bytes).
pub fn write_chw(img: &image::RgbImage, out: &mut [u8]) {
    let n = (img.width() * img.height()) as usize;
    for c in 0..3 {
        for (o, px) in out[c * n..][..n]
            .iter_mut()
            .zip(img.as_raw().chunks_exact(3))
        {
            *o = px[c];
        }
    }
}

/// The transform of an image folder: CIFAR-10's mean and std when its classes are
/// CIFAR-10's, else ImageNet's (torchvision's), with flips; for images decoded from their
/// originals on disk (`streamed`) torchvision's RandomResizedCrop, for images held in
/// memory at the input size `size` the padded crop (CIFAR-10's 4 pixels, else size / 8).
pub fn default_transform(classes: &[String], size: usize, streamed: bool) -> Transform {
    let mut t = if classes.iter().all(|c| CLASSES.contains(&c.as_str())) {
        Transform::cifar10()
    } else {
        Transform {
            mean: IMAGENET_MEAN.to_vec(),
            std: IMAGENET_STD.to_vec(),
            crop_padding: size / 8,
            flip: true,
            resized_crop: None,
        }
    };
    if streamed {
        t.crop_padding = 0;
        t.resized_crop = Some(ResizedCrop::imagenet());
    }
    t
}

/// An image folder read from disk on demand: image `i` is decoded, converted to RGB, its
/// shorter side resized to `size` (bilinear) and the centre `size` × `size` cropped
/// (torchvision's evaluation transform); training takes the [`Transform`]'s crops of the
/// original (RandomResizedCrop by default) and flips. A file that cannot be decoded is an
/// error naming it.
#[derive(Clone, Debug)]
pub struct ImageFolder {
    files: Arc<[PathBuf]>,
    labels: Arc<[u32]>,
    classes: Vec<String>,
    size: usize,
    transform: Transform,
}

impl ImageFolder {
    /// The images of `root/<class>/*` at `size` × `size`, normalised with CIFAR-10's
    /// statistics when the classes are CIFAR-10's, else ImageNet's.
    pub fn open(root: &Path, size: usize) -> Result<Self> {
        Self::from_scan(scan(root)?, size)
    }

    /// The images a [`scan`] found, at `size` × `size`.
    pub fn from_scan(scan: Scan, size: usize) -> Result<Self> {
        if size == 0 {
            return Err(Error::Data("image size 0".into()));
        }
        Ok(ImageFolder {
            transform: default_transform(&scan.classes, size, true),
            files: scan.files.into(),
            labels: scan.labels.into(),
            classes: scan.classes,
            size,
        })
    }

    /// The image files, in index order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The same images with another transform.
    pub fn with_transform(mut self, transform: Transform) -> Self {
        self.transform = transform;
        self
    }

    /// The images at `idx`, in that order (paths and labels only).
    pub fn subset(&self, idx: &[usize]) -> ImageFolder {
        ImageFolder {
            files: idx.iter().map(|&i| self.files[i].clone()).collect(),
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes.clone(),
            size: self.size,
            transform: self.transform.clone(),
        }
    }
}

impl ImageData for ImageFolder {
    fn len(&self) -> usize {
        self.files.len()
    }
    fn shape(&self) -> [usize; 3] {
        [3, self.size, self.size]
    }
    fn classes(&self) -> &[String] {
        &self.classes
    }
    fn label(&self, i: usize) -> usize {
        self.labels[i] as usize
    }
    fn read(&self, i: usize, out: &mut [u8]) -> Result<()> {
        let img = decode(&self.files[i])?;
        let s = self.size as u32;
        let (w, h) = img.dimensions();
        let img = if (w, h) == (s, s) {
            img
        } else {
            // Shorter side to s, then the centre s × s.
            let (nw, nh) = if w <= h {
                (
                    s,
                    ((h as u64 * s as u64) / w.max(1) as u64).max(s as u64) as u32,
                )
            } else {
                (
                    ((w as u64 * s as u64) / h.max(1) as u64).max(s as u64) as u32,
                    s,
                )
            };
            let resized = image::imageops::resize(&img, nw, nh, FilterType::Triangle);
            image::imageops::crop_imm(&resized, (nw - s) / 2, (nh - s) / 2, s, s).to_image()
        };
        write_chw(&img, out);
        Ok(())
    }
    fn read_resized_crop(
        &self,
        i: usize,
        crop: &ResizedCrop,
        draws: &CropDraws,
        out: &mut [u8],
    ) -> Result<()> {
        let img = decode(&self.files[i])?;
        let (w, h) = img.dimensions();
        let s = self.size as u32;
        write_chw(&crop_resize(&img, crop.crop_box(w, h, draws), (s, s)), out);
        Ok(())
    }
    fn transform(&self) -> &Transform {
        &self.transform
    }
}
