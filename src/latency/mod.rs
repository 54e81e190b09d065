//! Latency as a cost *(ours)*: tables of the median time of every piece a space can run
//! (input normalisation, stem, blocks, head), measured in ONNX Runtime on the target
//! machine, and a network's latency predicted as one call plus the sum of its pieces'
//! shares (docs/LATENCY.md).
//!
//! | concept | file |
//! |---|---|
//! | a piece and its key; every piece of a network and of a space | `piece.rs` |
//! | the table format, prediction, calibration | `table.rs` |
//! | measured latency of a benchmark's networks | `networks.rs` |
//! | ONNX Runtime and the timing harness *(feature `latency`)* | `runtime.rs` |
//! | measuring a table, a whole network *(feature `latency`)* | `measure.rs` |

#[cfg(feature = "latency")]
pub mod measure;
pub mod networks;
pub mod piece;
#[cfg(feature = "latency")]
pub mod runtime;
pub mod table;

pub use networks::{NETWORK_LATENCY_FORMAT, NetworkLatencies};
pub use piece::{Part, Piece, SpacePiece, pieces_of, pieces_of_layout, pieces_of_space};
pub use table::{Calibration, LATENCY_FORMAT, LatencyTable, Prediction};
