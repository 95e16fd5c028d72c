//! Seeding: one ChaCha8 stream per pipeline stage, so changing how many
//! numbers one stage draws never shifts the numbers another stage sees.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Stream {
    SpectralStart = 1,
    InitNoise = 2,
    RandomInit = 3,
    PcaStart = 4,
    Sgd = 5,
}

pub(crate) fn stream(seed: u64, which: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(which as u64);
    rng
}

/// Standard normal by Box–Muller (rand 0.9 has no normal distribution without rand_distr).
pub(crate) fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // 1 - u keeps the logarithm's argument in (0, 1].
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}
