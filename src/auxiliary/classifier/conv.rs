//! 2-D convolution as im2col plus one batched matrix product, built from candle tensor ops.
//! candle's own `conv2d` is fast forward, but on the CPU its backward pass goes through a
//! naive transposed convolution and a convolution with an image-sized kernel, which made
//! training about 10x slower than the forward cost suggests. Here the backward pass is two
//! matrix products and cheap copies. Weights keep PyTorch's `[out, in, kh, kw]` layout
//! under the name `weight`, so checkpoints are unaffected by the choice.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

/// A bias-free square convolution with "same" padding (`kernel / 2`).
#[derive(Debug, Clone)]
pub struct Conv {
    weight: Tensor,
    kernel: usize,
    stride: usize,
}

impl Conv {
    pub fn new(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        if kernel == 0 || stride == 0 {
            candle_core::bail!(
                "convolution needs kernel and stride >= 1, got {kernel} and {stride}"
            )
        }
        let weight = vb.get_with_hints(
            (c_out, c_in, kernel, kernel),
            "weight",
            candle_nn::init::DEFAULT_KAIMING_NORMAL,
        )?;
        Ok(Self {
            weight,
            kernel,
            stride,
        })
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }
}

impl Module for Conv {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let (k, s) = (self.kernel, self.stride);
        let pad = k / 2;
        let h_out = (h + 2 * pad - k) / s + 1;
        let w_out = (w + 2 * pad - k) / s + 1;
        let padded = if pad > 0 {
            x.pad_with_zeros(2, pad, pad)?.pad_with_zeros(3, pad, pad)?
        } else {
            x.clone()
        };
        // One shifted (and subsampled) view per kernel tap, stacked after the channel axis
        // so that the patch index is c * k * k + ky * k + kx, the weight's flattening order.
        let mut taps = Vec::with_capacity(k * k);
        for ky in 0..k {
            for kx in 0..k {
                let tap = padded.narrow(2, ky, (h_out - 1) * s + 1)?.narrow(
                    3,
                    kx,
                    (w_out - 1) * s + 1,
                )?;
                taps.push(subsample(&tap, s, h_out, w_out)?);
            }
        }
        let patches = if taps.len() == 1 {
            taps.remove(0).reshape((n, c, h_out * w_out))?
        } else {
            Tensor::stack(&taps, 2)?.reshape((n, c * k * k, h_out * w_out))?
        };
        let c_out = self.weight.dim(0)?;
        let weight = self.weight.reshape((c_out, c * k * k))?;
        weight
            .broadcast_matmul(&patches)?
            .reshape((n, c_out, h_out, w_out))
    }
}

/// Every `stride`-th row and column of `x` (`[N, C, (h_out-1)*stride+1, ...]`).
fn subsample(x: &Tensor, stride: usize, h_out: usize, w_out: usize) -> Result<Tensor> {
    if stride == 1 {
        return Ok(x.clone());
    }
    let (n, c, _, _) = x.dims4()?;
    // Pad to a multiple of the stride, split each axis into (out, stride), keep phase 0.
    let x = x
        .pad_with_zeros(2, 0, h_out * stride - x.dim(2)?)?
        .pad_with_zeros(3, 0, w_out * stride - x.dim(3)?)?;
    x.reshape((n, c, h_out, stride, w_out, stride))?
        .narrow(3, 0, 1)?
        .narrow(5, 0, 1)?
        .reshape((n, c, h_out, w_out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn matches_candle_conv2d() {
        let device = Device::Cpu;
        for (k, s, size) in [(3, 1, 5), (3, 2, 6), (3, 2, 5), (1, 1, 4), (1, 2, 5)] {
            let varmap = candle_nn::VarMap::new();
            let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
            let conv = Conv::new(3, 4, k, s, vb).unwrap();
            let x = Tensor::randn(0f32, 1.0, (2, 3, size, size), &device).unwrap();
            let ours = conv.forward(&x).unwrap();
            let theirs = x.conv2d(conv.weight(), k / 2, s, 1, 1).unwrap();
            assert_eq!(ours.dims(), theirs.dims(), "k {k} s {s}");
            let diff: f32 = (ours - theirs)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar()
                .unwrap();
            assert!(diff < 1e-4, "k {k} s {s} size {size}: {diff}");
        }
    }
}
