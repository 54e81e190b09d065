//! Resolution search by sub-lattices (docs/ALGORITHM.md, "Resolution search on
//! sub-lattices"): option i lives on the positions `floor(j · R / r_i)` of the full R×R
//! grid. `gather` subsamples the full map to the dense r_i×r_i map; `scatter` writes a
//! dense map back to its lattice with zeros in between.

use burn::module::Module;
use burn::tensor::{Device, IndexingUpdateOp, Int, Tensor};

/// Lattice positions of an r-point option on an R-point grid: `floor(j · R / r)`.
pub fn lattice_positions(full: usize, small: usize) -> Vec<i64> {
    (0..small).map(|j| (j * full / small) as i64).collect()
}

/// Index tensors of every resolution option at every layer boundary.
#[derive(Module, Debug)]
pub struct Lattice {
    /// `index[b][i]`: positions of option i at boundary b.
    pub index: Vec<Vec<Tensor<1, Int>>>,
    /// `full[b]`: the full map size at boundary b.
    #[module(skip)]
    pub full: Vec<usize>,
}

impl Lattice {
    /// `full[b]`: the full size at boundary b; `sizes[b][i]`: option i's size there.
    pub fn new(full: &[usize], sizes: &[Vec<usize>], device: &Device) -> Self {
        let index = full
            .iter()
            .zip(sizes)
            .map(|(&f, opts)| {
                opts.iter()
                    .map(|&r| {
                        let pos = lattice_positions(f, r);
                        Tensor::<1, Int>::from_ints(pos.as_slice(), device)
                    })
                    .collect()
            })
            .collect();
        Lattice {
            index,
            full: full.to_vec(),
        }
    }

    /// Nearest-neighbour subsample of the full map at boundary `b` to option `i`.
    pub fn gather(&self, x: Tensor<4>, b: usize, i: usize) -> Tensor<4> {
        let idx = &self.index[b][i];
        if idx.dims()[0] == self.full[b] {
            return x;
        }
        x.select(2, idx.clone()).select(3, idx.clone())
    }

    /// Write option i's dense map back onto the full grid at boundary `b`, zeros elsewhere.
    pub fn scatter(&self, y: Tensor<4>, b: usize, i: usize) -> Tensor<4> {
        let idx = &self.index[b][i];
        let full = self.full[b];
        if idx.dims()[0] == full {
            return y;
        }
        let [n, c, r, _] = y.dims();
        let device = y.device();
        let cols = Tensor::zeros([n, c, r, full], &device).select_assign(
            3,
            idx.clone(),
            y,
            IndexingUpdateOp::Add,
        );
        Tensor::zeros([n, c, full, full], &device).select_assign(
            2,
            idx.clone(),
            cols,
            IndexingUpdateOp::Add,
        )
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
