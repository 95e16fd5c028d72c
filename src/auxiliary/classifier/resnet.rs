//! CIFAR-style ResNets (He et al. 2016, as adapted for 32x32 inputs in the widely used
//! `pytorch-cifar` recipe): a 3x3 stride-1 stem without max-pooling, four stages of basic
//! (ResNet18) or bottleneck (ResNet50) blocks, global average pooling and one linear layer.
//! Weight names follow torchvision (`conv1`, `bn1`, `layer1.0.conv1`, `layer1.0.downsample.0`,
//! `fc`), so a checkpoint reads like a torchvision state dict.

use candle_core::{Result, Tensor};
use candle_nn::{Linear, ModuleT, VarBuilder};

use super::conv::Conv;
use super::norm::{batch_norm, Norm};

/// Residual block kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockKind {
    /// Two 3x3 convolutions (ResNet18/34); expansion 1.
    Basic,
    /// 1x1 reduce, 3x3, 1x1 expand (ResNet50 and deeper); expansion 4.
    Bottleneck,
}

impl BlockKind {
    /// Output width of a block relative to its inner width (1 basic, 4 bottleneck).
    pub fn expansion(self) -> usize {
        match self {
            BlockKind::Basic => 1,
            BlockKind::Bottleneck => 4,
        }
    }
}

/// Architecture of a CIFAR ResNet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResNetConfig {
    /// Basic or bottleneck blocks.
    pub block: BlockKind,
    /// Blocks per stage.
    pub layers: [usize; 4],
    /// Inner width of each stage (before the block expansion); the stem has `widths[0]`.
    pub widths: [usize; 4],
    /// Channels of the input images.
    pub in_channels: usize,
    /// Number of output classes (at least 2).
    pub num_classes: usize,
}

impl ResNetConfig {
    /// CIFAR ResNet18 on RGB input: basic blocks `[2, 2, 2, 2]`, widths 64 to 512.
    pub fn resnet18(num_classes: usize) -> Self {
        Self {
            block: BlockKind::Basic,
            layers: [2, 2, 2, 2],
            widths: [64, 128, 256, 512],
            in_channels: 3,
            num_classes,
        }
    }

    /// CIFAR ResNet50 on RGB input, the paper's auxiliary model: bottleneck blocks
    /// `[3, 4, 6, 3]`, inner widths 64 to 512 (features 2048).
    pub fn resnet50(num_classes: usize) -> Self {
        Self {
            block: BlockKind::Bottleneck,
            layers: [3, 4, 6, 3],
            widths: [64, 128, 256, 512],
            in_channels: 3,
            num_classes,
        }
    }

    /// Width of the features fed to the classifier.
    pub fn feature_dim(&self) -> usize {
        self.widths[3] * self.block.expansion()
    }

    /// Refuses an empty stage, a zero width or input, or fewer than 2 classes.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.layers.contains(&0) || self.widths.contains(&0) {
            return Err(format!(
                "ResNet stages need at least one block and width > 0: layers {:?}, widths {:?}",
                self.layers, self.widths
            ));
        }
        if self.in_channels == 0 || self.num_classes < 2 {
            return Err(format!(
                "ResNet needs in_channels > 0 and at least 2 classes, got {} and {}",
                self.in_channels, self.num_classes
            ));
        }
        Ok(())
    }
}

/// Convolution without bias: the following batch norm's shift makes a bias redundant.
pub(crate) fn conv(
    c_in: usize,
    c_out: usize,
    kernel: usize,
    stride: usize,
    vb: VarBuilder,
) -> Result<Conv> {
    Conv::new(c_in, c_out, kernel, stride, vb)
}

#[derive(Debug, Clone)]
struct ConvBn {
    conv: Conv,
    bn: Norm,
}

#[derive(Debug, Clone)]
struct Block {
    convs: Vec<ConvBn>,
    downsample: Option<ConvBn>,
}

impl Block {
    fn new(
        kind: BlockKind,
        c_in: usize,
        width: usize,
        stride: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let c_out = width * kind.expansion();
        // (in, out, kernel, stride) of each convolution; the stride sits on the 3x3 as in
        // torchvision's "ResNet v1.5".
        let shapes: Vec<(usize, usize, usize, usize)> = match kind {
            BlockKind::Basic => vec![(c_in, width, 3, stride), (width, width, 3, 1)],
            BlockKind::Bottleneck => vec![
                (c_in, width, 1, 1),
                (width, width, 3, stride),
                (width, c_out, 1, 1),
            ],
        };
        let convs = shapes
            .into_iter()
            .enumerate()
            .map(|(i, (ci, co, k, s))| {
                Ok(ConvBn {
                    conv: conv(ci, co, k, s, vb.pp(format!("conv{}", i + 1)))?,
                    bn: batch_norm(co, vb.pp(format!("bn{}", i + 1)))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let downsample = if stride != 1 || c_in != c_out {
            let vb = vb.pp("downsample");
            Some(ConvBn {
                conv: conv(c_in, c_out, 1, stride, vb.pp("0"))?,
                bn: batch_norm(c_out, vb.pp("1"))?,
            })
        } else {
            None
        };
        Ok(Self { convs, downsample })
    }
}

impl ModuleT for Block {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = x.clone();
        let last = self.convs.len() - 1;
        for (i, cb) in self.convs.iter().enumerate() {
            h = cb.bn.forward_t(&h.apply(&cb.conv)?, train)?;
            if i != last {
                h = h.relu()?;
            }
        }
        let shortcut = match &self.downsample {
            Some(cb) => cb.bn.forward_t(&x.apply(&cb.conv)?, train)?,
            None => x.clone(),
        };
        (h + shortcut)?.relu()
    }
}

/// A CIFAR ResNet; input `[N, C, H, W]` normalised images, output `[N, classes]` logits.
#[derive(Debug, Clone)]
pub struct ResNet {
    stem: ConvBn,
    blocks: Vec<Block>,
    fc: Linear,
}

impl ResNet {
    /// Builds the network under `vb` with torchvision's weight names (creating or reading
    /// the weights, as `vb` does); a config that fails [`ResNetConfig::check`] is an error.
    pub fn new(config: &ResNetConfig, vb: VarBuilder) -> Result<Self> {
        config.check().map_err(candle_core::Error::Msg)?;
        let stem = ConvBn {
            conv: conv(config.in_channels, config.widths[0], 3, 1, vb.pp("conv1"))?,
            bn: batch_norm(config.widths[0], vb.pp("bn1"))?,
        };
        let mut blocks = Vec::new();
        let mut c_in = config.widths[0];
        for (stage, (&count, &width)) in config.layers.iter().zip(&config.widths).enumerate() {
            let vb = vb.pp(format!("layer{}", stage + 1));
            for i in 0..count {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                blocks.push(Block::new(config.block, c_in, width, stride, vb.pp(i))?);
                c_in = width * config.block.expansion();
            }
        }
        let fc = candle_nn::linear(c_in, config.num_classes, vb.pp("fc"))?;
        Ok(Self { stem, blocks, fc })
    }
}

impl ModuleT for ResNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = self
            .stem
            .bn
            .forward_t(&x.apply(&self.stem.conv)?, train)?
            .relu()?;
        for block in &self.blocks {
            h = block.forward_t(&h, train)?;
        }
        h.mean((2, 3))?.apply(&self.fc)
    }
}
