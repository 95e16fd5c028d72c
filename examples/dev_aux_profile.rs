//! Where a training step's time goes (forward, backward, optimiser) for one model.
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{ModuleT, Optimizer};
use rand::SeedableRng;
use softtext::auxiliary::classifier::{init_model, ModelKind, Sgd, SgdConfig};

// Library and candle errors both end the run.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let kind: ModelKind = std::env::args().nth(1).unwrap_or("fast".into()).parse()?;
    let div: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(4);
    let bs: usize = std::env::args()
        .nth(3)
        .map(|s| s.parse().unwrap())
        .unwrap_or(32);
    let device = Device::Cpu;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let (model, varmap) = init_model(&kind.config(10, div), &mut rng, &device)?;
    let mut sgd = Sgd::new(varmap.all_vars(), SgdConfig::default())?;
    let x = Tensor::randn(0f32, 1.0, (bs, 3, 32, 32), &device)?;
    let y = Tensor::zeros(bs, DType::U32, &device)?;
    for _ in 0..3 {
        let t = Instant::now();
        // A block, so the training graph is freed before the evaluation pass is timed.
        let (t1, t2, t3) = {
            let logits = model.forward_t(&x, true)?;
            let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
            let t1 = t.elapsed();
            let grads = loss.backward()?;
            let t2 = t.elapsed();
            sgd.step(&grads)?;
            (t1, t2, t.elapsed())
        };
        let e = Instant::now();
        let _ = model.forward_t(&x, false)?;
        println!(
            "fwd {t1:?} bwd {:?} step {:?} eval-fwd {:?} -> {:.1} img/s",
            t2 - t1,
            t3 - t2,
            e.elapsed(),
            bs as f64 / t3.as_secs_f64()
        );
    }
    Ok(())
}
