//! Batch normalisation over the channels of `[N, C, H, W]` activations: candle-nn's
//! `BatchNorm` in training (batch statistics, running statistics updated with PyTorch's
//! momentum and unbiased variance), and in evaluation a per-channel affine map computed
//! channel-major.
//!
//! The evaluation path is ours because [`super::conv::Conv`] returns channel-major memory
//! viewed as `[N, C, H, W]`: candle-nn's evaluation broadcasts `[1, C, 1, 1]` statistics
//! over that strided view element by element, which made a ResNet50 evaluation pass three
//! times slower than a training pass. Channel-major, the statistics broadcast over
//! contiguous rows instead.

use candle_core::{Result, Tensor};
use candle_nn::{BatchNorm, ModuleT, VarBuilder};

/// `BatchNorm2d` with PyTorch's defaults (eps 1e-5, momentum 0.1). Weights are named
/// `weight`, `bias`, `running_mean` and `running_var`, as in torchvision.
#[derive(Debug, Clone)]
pub struct Norm {
    inner: BatchNorm,
}

pub(crate) fn batch_norm(channels: usize, vb: VarBuilder) -> Result<Norm> {
    Ok(Norm {
        inner: candle_nn::batch_norm(channels, candle_nn::BatchNormConfig::default(), vb)?,
    })
}

impl ModuleT for Norm {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        if train {
            return self.inner.forward_t(x, true);
        }
        let (n, c, h, w) = x.dims4()?;
        let bn = &self.inner;
        let inv_std = (bn.running_var().detach() + bn.eps())?.sqrt()?.recip()?;
        let (scale, shift) = match bn.weight_and_bias() {
            Some((weight, bias)) => {
                let scale = (weight * &inv_std)?;
                let shift = (bias - (bn.running_mean().detach() * &scale)?)?;
                (scale, shift)
            }
            None => {
                let shift = (bn.running_mean().detach() * &inv_std)?.neg()?;
                (inv_std, shift)
            }
        };
        x.transpose(0, 1)?
            .contiguous()?
            .reshape((c, n * h * w))?
            .broadcast_mul(&scale.reshape((c, 1))?)?
            .broadcast_add(&shift.reshape((c, 1))?)?
            .reshape((c, n, h, w))?
            .transpose(0, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn matches_candle_nn_in_both_modes() {
        let device = Device::Cpu;
        let varmap = candle_nn::VarMap::new();
        let ours = batch_norm(3, VarBuilder::from_varmap(&varmap, DType::F64, &device)).unwrap();
        let reference = candle_nn::batch_norm(
            3,
            candle_nn::BatchNormConfig::default(),
            VarBuilder::from_varmap(&candle_nn::VarMap::new(), DType::F64, &device),
        )
        .unwrap();
        // Non-trivial affine parameters and running statistics after two training steps.
        for (name, value) in [("weight", 1.5), ("bias", -0.25)] {
            let var = &varmap.data().lock().unwrap()[name];
            var.set(&Tensor::full(value, 3, &device).unwrap()).unwrap();
        }
        for step in 0..2 {
            let x = Tensor::randn(step as f64, 2.0, (4, 3, 5, 5), &device).unwrap();
            ours.forward_t(&x, true).unwrap();
            reference.forward_t(&x, true).unwrap();
        }
        // A transposed view, as the convolution produces.
        let x = Tensor::randn(0.5f64, 3.0, (3, 4, 5, 5), &device)
            .unwrap()
            .transpose(0, 1)
            .unwrap();
        let expected = {
            let bn = &ours.inner;
            let shape = (1, 3, 1, 1);
            let mean = bn.running_mean().reshape(shape).unwrap();
            let std = (bn.running_var().reshape(shape).unwrap() + 1e-5)
                .unwrap()
                .sqrt()
                .unwrap();
            ((x.broadcast_sub(&mean).unwrap().broadcast_div(&std).unwrap() * 1.5).unwrap() - 0.25)
                .unwrap()
        };
        let got = ours.forward_t(&x, false).unwrap();
        let diff = super::super::max_abs_diff(&got, &expected);
        assert!(diff < 1e-12, "{diff}");
        let same_stats =
            |a: &Tensor, b: &Tensor| a.to_vec1::<f64>().unwrap() == b.to_vec1::<f64>().unwrap();
        assert!(same_stats(
            ours.inner.running_mean(),
            reference.running_mean()
        ));
        assert!(same_stats(
            ours.inner.running_var(),
            reference.running_var()
        ));
    }
}
