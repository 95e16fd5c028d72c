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
    /// A `[c_out, c_in, kernel, kernel]` weight named `weight` under `vb` (Kaiming normal
    /// when `vb` creates it); kernel and stride must be at least 1.
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

    /// The `[out, in, kh, kw]` weight, for comparing against candle's `conv2d`.
    #[cfg(test)]
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
        // Channel-major [C, N, H, W]: the patches of the whole batch form one
        // [C*k*k, N*H'*W'] matrix, so the convolution is a single matrix product. A per-image
        // batched product would broadcast the weight N times, and its gradient would then be
        // an [N, out, C*k*k] tensor summed over N along candle's slow strided path.
        // One block copy here keeps the padding and tap copies below on candle's
        // contiguous fast paths.
        let channel_major = x.transpose(0, 1)?.contiguous()?;
        let padded = if pad > 0 {
            channel_major
                .pad_with_zeros(2, pad, pad)?
                .pad_with_zeros(3, pad, pad)?
        } else {
            channel_major
        };
        // One shifted (and subsampled) view per kernel tap, stacked after the channel axis
        // so that the patch row is c * k * k + ky * k + kx, the weight's flattening order.
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
            taps.remove(0).reshape((c, n * h_out * w_out))?
        } else {
            Tensor::stack(&taps, 1)?.reshape((c * k * k, n * h_out * w_out))?
        };
        let c_out = self.weight.dim(0)?;
        self.weight
            .reshape((c_out, c * k * k))?
            .matmul(&patches)?
            .reshape((c_out, n, h_out, w_out))?
            .transpose(0, 1)
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
            let diff = super::super::max_abs_diff(&ours, &theirs);
            assert!(diff < 1e-4, "k {k} s {s} size {size}: {diff}");
        }
    }

    #[test]
    fn gradients_match_candle_conv2d() {
        let device = Device::Cpu;
        for (k, s, size) in [(3, 1, 5), (3, 2, 6), (3, 2, 5), (1, 1, 4), (1, 2, 5)] {
            let varmap = candle_nn::VarMap::new();
            let vb = VarBuilder::from_varmap(&varmap, DType::F64, &device);
            let conv = Conv::new(3, 4, k, s, vb).unwrap();
            let x = candle_core::Var::randn(0f64, 1.0, (2, 3, size, size), &device).unwrap();
            let ours = conv.forward(x.as_tensor()).unwrap();
            // A random linear functional of the output, so every output element matters.
            let probe = Tensor::randn(0f64, 1.0, ours.dims(), &device).unwrap();
            let grads_of = |out: &Tensor| {
                let grads = (out * &probe)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
                let dx = grads.get(x.as_tensor()).unwrap().clone();
                let dw = grads.get(conv.weight()).unwrap().clone();
                (dx, dw)
            };
            let theirs = x.as_tensor().conv2d(conv.weight(), k / 2, s, 1, 1).unwrap();
            let (dx, dw) = grads_of(&ours);
            let (dx_ref, dw_ref) = grads_of(&theirs);
            for (name, a, b) in [("input", dx, dx_ref), ("weight", dw, dw_ref)] {
                let diff = super::super::max_abs_diff(&a, &b);
                assert!(
                    diff < 1e-10,
                    "k {k} s {s} size {size}: {name} grad off by {diff}"
                );
            }
        }
    }
}
