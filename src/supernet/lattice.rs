//! Resolution search by sub-lattices (docs/ALGORITHM.md, "Resolution search on
//! sub-lattices"): option i lives on the positions `floor(j · R / r_i)` of the full R×R
//! grid. `gather` subsamples the full map to the dense r_i×r_i map; `scatter` writes a
//! dense map back to its lattice with zeros in between.

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};

use crate::kernels::{lattice_gather, lattice_scatter};

/// Lattice positions of an r-point option on an R-point grid: `floor(j · R / r)`.
pub fn lattice_positions(full: usize, small: usize) -> Vec<usize> {
    (0..small).map(|j| j * full / small).collect()
}

/// Index tensors of every resolution option at every layer boundary.
#[derive(Module, Debug)]
pub struct Lattice {
    /// `index[b][i]`: positions of option i at boundary b.
    pub index: Vec<Vec<Tensor<1, Int>>>,
    /// The same positions on the host, for our kernels.
    #[module(skip)]
    pub positions: Vec<Vec<Vec<usize>>>,
    /// `full[b]`: the full map size at boundary b.
    #[module(skip)]
    pub full: Vec<usize>,
}

impl Lattice {
    /// `full[b]`: the full size at boundary b; `sizes[b][i]`: option i's size there.
    pub fn new(full: &[usize], sizes: &[Vec<usize>], device: &Device) -> Self {
        let positions: Vec<Vec<Vec<usize>>> = full
            .iter()
            .zip(sizes)
            .map(|(&f, opts)| opts.iter().map(|&r| lattice_positions(f, r)).collect())
            .collect();
        let index = positions
            .iter()
            .map(|opts| {
                opts.iter()
                    .map(|pos| {
                        let pos: Vec<i64> = pos.iter().map(|&p| p as i64).collect();
                        Tensor::<1, Int>::from_ints(pos.as_slice(), device)
                    })
                    .collect()
            })
            .collect();
        Lattice {
            index,
            positions,
            full: full.to_vec(),
        }
    }

    /// Nearest-neighbour subsample of the full map at boundary `b` to option `i`.
    pub fn gather(&self, x: Tensor<4>, b: usize, i: usize) -> Tensor<4> {
        let idx = &self.index[b][i];
        if idx.dims()[0] == self.full[b] {
            return x;
        }
        lattice_gather(x, &self.positions[b][i], idx)
    }

    /// Write option i's dense map back onto the full grid at boundary `b`, zeros elsewhere.
    pub fn scatter(&self, y: Tensor<4>, b: usize, i: usize) -> Tensor<4> {
        let idx = &self.index[b][i];
        let full = self.full[b];
        if idx.dims()[0] == full {
            return y;
        }
        lattice_scatter(y, &self.positions[b][i], idx, full)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_floor_of_j_times_ratio() {
        // docs/ALGORITHM.md: position j of the small map sits at floor(j · R / r).
        assert_eq!(
            lattice_positions(32, 24),
            [
                0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 16, 17, 18, 20, 21, 22, 24, 25, 26, 28, 29,
                30
            ]
        );
        assert_eq!(lattice_positions(4, 2), [0, 2]);
        assert_eq!(lattice_positions(7, 7), [0, 1, 2, 3, 4, 5, 6]);
    }
}
