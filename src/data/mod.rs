//! Data: the [`ImageData`] trait the loops read, the in-memory [`ImageSet`], the CIFAR-10
//! readers, split, augmentation and batching.

pub mod cifar;
pub mod crop;
#[cfg(feature = "download")]
pub mod download;
pub mod folder;
pub mod image_set;
pub mod images;
pub mod loader;
pub mod source;

pub use cifar::{CLASSES, Split, load};
pub use crop::{CropDraws, ResizedCrop};
#[cfg(feature = "download")]
pub use download::{DefaultData, default_data};
pub use folder::ImageFolder;
pub use image_set::{IMAGENET_MEAN, IMAGENET_STD, ImageSet, Transform};
pub use images::{Images, open};
pub use loader::{
    Batch, epoch_batches, make_batch, next_batch, random_indices, split, split_sizes,
};
pub use source::{ImageData, Subset, check, check_input};
