//! A small, fast CIFAR-10 network in the style of the DAWNBench speed-run "ResNet-9"
//! (Page, 2018) that later speed runs (airbench) refined: conv-bn-relu blocks, max-pooling
//! to halve the resolution, two residual units, global max pooling and a scaled linear head.
//! It reaches useful accuracy in a few epochs, which the full ResNets cannot on a CPU.

use candle_core::{Result, Tensor};
use candle_nn::{Linear, ModuleT, VarBuilder};

use super::conv::Conv;

use super::norm::{batch_norm, Norm};
use super::resnet::conv;

/// Architecture of the fast network.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FastConfig {
    /// Widths of the prep layer and the three stages.
    pub widths: [usize; 4],
    /// Channels of the input images.
    pub in_channels: usize,
    /// Number of output classes (at least 2).
    pub num_classes: usize,
    /// Multiplies the logits: with max-pooled, unnormalised features the raw logits start
    /// large, and ResNet-9 found 1/8 trains best.
    pub logit_scale: f64,
}

impl FastConfig {
    /// The DAWNBench ResNet-9 widths.
    pub fn resnet9(num_classes: usize) -> Self {
        Self {
            widths: [64, 128, 256, 512],
            in_channels: 3,
            num_classes,
            logit_scale: 0.125,
        }
    }

    /// A quarter-width variant for tests and quick CPU runs.
    pub fn narrow(num_classes: usize) -> Self {
        Self {
            widths: [16, 32, 64, 128],
            ..Self::resnet9(num_classes)
        }
    }

    /// Refuses a zero width or input, fewer than 2 classes, or a logit scale that is not
    /// finite and positive.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.widths.contains(&0) || self.in_channels == 0 || self.num_classes < 2 {
            return Err(format!(
                "fast net needs widths > 0, in_channels > 0 and at least 2 classes: {self:?}"
            ));
        }
        if !(self.logit_scale.is_finite() && self.logit_scale > 0.0) {
            return Err(format!(
                "fast net logit_scale must be finite and > 0, is {}",
                self.logit_scale
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct ConvBnRelu {
    conv: Conv,
    bn: Norm,
}

impl ConvBnRelu {
    fn new(c_in: usize, c_out: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            conv: conv(c_in, c_out, 3, 1, vb.pp("conv"))?,
            bn: batch_norm(c_out, vb.pp("bn"))?,
        })
    }
}

impl ModuleT for ConvBnRelu {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.bn.forward_t(&x.apply(&self.conv)?, train)?.relu()
    }
}

/// conv-bn-relu, 2x2 max-pool, then optionally `x + res(res(x))`.
#[derive(Debug, Clone)]
struct Stage {
    head: ConvBnRelu,
    residual: Option<[ConvBnRelu; 2]>,
}

impl Stage {
    fn new(c_in: usize, c_out: usize, residual: bool, vb: VarBuilder) -> Result<Self> {
        let head = ConvBnRelu::new(c_in, c_out, vb.clone())?;
        let residual = if residual {
            Some([
                ConvBnRelu::new(c_out, c_out, vb.pp("res.0"))?,
                ConvBnRelu::new(c_out, c_out, vb.pp("res.1"))?,
            ])
        } else {
            None
        };
        Ok(Self { head, residual })
    }
}

impl ModuleT for Stage {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let h = self.head.forward_t(x, train)?.max_pool2d(2)?;
        match &self.residual {
            Some([a, b]) => &h + b.forward_t(&a.forward_t(&h, train)?, train)?,
            None => Ok(h),
        }
    }
}

/// The fast network; input `[N, C, H, W]` with H and W multiples of 8, output logits.
#[derive(Debug, Clone)]
pub struct FastNet {
    prep: ConvBnRelu,
    stages: [Stage; 3],
    classifier: Linear,
    logit_scale: f64,
}

impl FastNet {
    /// Builds the network under `vb` (creating or reading the weights, as `vb` does); a
    /// config that fails [`FastConfig::check`] is an error.
    pub fn new(config: &FastConfig, vb: VarBuilder) -> Result<Self> {
        config.check().map_err(candle_core::Error::Msg)?;
        let w = config.widths;
        Ok(Self {
            prep: ConvBnRelu::new(config.in_channels, w[0], vb.pp("prep"))?,
            stages: [
                Stage::new(w[0], w[1], true, vb.pp("layer1"))?,
                Stage::new(w[1], w[2], false, vb.pp("layer2"))?,
                Stage::new(w[2], w[3], true, vb.pp("layer3"))?,
            ],
            classifier: candle_nn::linear_no_bias(w[3], config.num_classes, vb.pp("classifier"))?,
            logit_scale: config.logit_scale,
        })
    }
}

impl ModuleT for FastNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = self.prep.forward_t(x, train)?;
        for stage in &self.stages {
            h = stage.forward_t(&h, train)?;
        }
        // Global max pooling over whatever resolution is left (4x4 for 32x32 inputs).
        let h = h.flatten_from(2)?.max(2)?;
        h.apply(&self.classifier)? * self.logit_scale
    }
}
