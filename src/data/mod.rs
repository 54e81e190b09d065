//! Data: the [`ImageData`] trait the loops read, the in-memory [`ImageSet`], the CIFAR-10
//! readers, split, augmentation and batching.

pub mod cifar;
#[cfg(feature = "download")]
pub mod download;
pub mod image_set;
pub mod loader;
pub mod source;

pub use cifar::{CLASSES, Split, load};
#[cfg(feature = "download")]
pub use download::{DefaultData, default_data};
pub use image_set::{ImageSet, Transform};
pub use loader::{Batch, epoch_batches, make_batch, next_batch, skip, split, split_sizes};
pub use source::{ImageData, Subset, check};
