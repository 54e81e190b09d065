//! CIFAR-10 data: readers, split, augmentation and batching.

pub mod cifar;
pub mod download;
pub mod loader;

pub use cifar::{CLASSES, ImageSet, Split, load};
pub use download::{DefaultData, default_data};
pub use loader::{Batch, epoch_batches, make_batch, skip, split};
