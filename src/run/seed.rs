//! Seeds of a run's random streams.

/// The seed of random stream `stream` at `epoch` (or step) of a run seeded with `seed`:
/// every stream is reproducible on its own, so a resumed run draws what an
/// uninterrupted one would.
pub fn stream_seed(seed: u64, epoch: usize, stream: u64) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add((epoch as u64) << 20)
        .wrapping_add(stream)
}
