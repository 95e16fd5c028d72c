//! Stochastic gradient descent with momentum, (coupled) weight decay and optional Nesterov
//! momentum, following PyTorch's `torch.optim.SGD` update rule so that published CIFAR-10
//! recipes (lr 0.1, momentum 0.9, weight decay 5e-4) mean the same thing here.
//! candle-nn's own `SGD` has no momentum, hence this type.

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};
use candle_nn::Optimizer;

/// Hyper-parameters of [`Sgd`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SgdConfig {
    /// Learning rate, finite and `>= 0` (default 0.1).
    pub lr: f64,
    /// Momentum factor in `[0, 1)`; 0 is plain SGD (default 0.9).
    pub momentum: f64,
    /// L2 penalty added to the gradient (PyTorch's coupled `weight_decay`), finite and
    /// `>= 0` (default 5e-4).
    pub weight_decay: f64,
    /// Nesterov momentum; needs `momentum > 0` (default off).
    pub nesterov: bool,
}

impl SgdConfig {
    /// The first out-of-range setting and what it must be.
    pub fn check(&self) -> std::result::Result<(), (super::TrainParam, String)> {
        use super::TrainParam;
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return Err((
                TrainParam::Lr,
                format!("learning rate must be finite and >= 0, is {}", self.lr),
            ));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err((
                TrainParam::Momentum,
                format!("momentum must be in [0, 1), is {}", self.momentum),
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err((
                TrainParam::WeightDecay,
                format!(
                    "weight decay must be finite and >= 0, is {}",
                    self.weight_decay
                ),
            ));
        }
        if self.nesterov && self.momentum == 0.0 {
            return Err((
                TrainParam::Nesterov,
                "Nesterov momentum needs momentum > 0".to_string(),
            ));
        }
        Ok(())
    }
}

impl Default for SgdConfig {
    fn default() -> Self {
        Self {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 5e-4,
            nesterov: false,
        }
    }
}

/// SGD over named variables. Names let a checkpoint store each momentum buffer beside the
/// weight it belongs to; [`Optimizer::new`] names them by position.
#[derive(Debug)]
pub struct Sgd {
    names: Vec<String>,
    vars: Vec<Var>,
    /// `None` until the first step that sees a gradient: PyTorch starts the buffer at d_p
    /// rather than at zero, which changes the first update by a factor of 1/(1-momentum).
    buffers: Vec<Option<Tensor>>,
    config: SgdConfig,
}

impl Sgd {
    /// An optimiser over `(name, var)` pairs; non-float variables are ignored.
    pub fn new_named(vars: Vec<(String, Var)>, config: SgdConfig) -> Result<Self> {
        if let Err((_, message)) = config.check() {
            candle_core::bail!("{message}")
        }
        let (names, vars): (Vec<String>, Vec<Var>) = vars
            .into_iter()
            .filter(|(_, var)| var.dtype().is_float())
            .unzip();
        let buffers = vec![None; vars.len()];
        Ok(Self {
            names,
            vars,
            buffers,
            config,
        })
    }

    /// The hyper-parameters it steps with.
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }

    /// Momentum buffers by variable name; a variable that has not been stepped yet has none.
    pub fn buffers(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.names
            .iter()
            .zip(&self.buffers)
            .filter_map(|(name, buffer)| buffer.as_ref().map(|b| (name.as_str(), b)))
    }

    /// Names of the optimised variables, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Restores a momentum buffer saved by [`Sgd::buffers`]; the shape must match.
    pub fn set_buffer(&mut self, name: &str, buffer: Tensor) -> Result<()> {
        let Some(index) = self.names.iter().position(|n| n == name) else {
            candle_core::bail!("no optimised variable named {name:?}")
        };
        if buffer.dims() != self.vars[index].dims() {
            candle_core::bail!(
                "momentum buffer {name:?} has shape {:?}, the variable {:?}",
                buffer.dims(),
                self.vars[index].dims()
            )
        }
        self.buffers[index] = Some(buffer.to_dtype(self.vars[index].dtype())?);
        Ok(())
    }
}

impl Optimizer for Sgd {
    type Config = SgdConfig;

    fn new(vars: Vec<Var>, config: SgdConfig) -> Result<Self> {
        let named = vars
            .into_iter()
            .enumerate()
            .map(|(i, var)| (format!("param.{i}"), var))
            .collect();
        Self::new_named(named, config)
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let SgdConfig {
            lr,
            momentum,
            weight_decay,
            nesterov,
        } = self.config;
        for (var, buffer) in self.vars.iter().zip(self.buffers.iter_mut()) {
            // Like PyTorch, a parameter without a gradient (unused this step, or a running
            // statistic) is left alone, weight decay included.
            let Some(grad) = grads.get(var) else {
                continue;
            };
            let mut d_p = if weight_decay != 0.0 {
                (grad + (var.as_tensor() * weight_decay)?)?
            } else {
                grad.clone()
            };
            if momentum != 0.0 {
                let buf = match buffer.take() {
                    None => d_p.clone(),
                    Some(buf) => ((buf * momentum)? + &d_p)?,
                };
                d_p = if nesterov {
                    (d_p + (&buf * momentum)?)?
                } else {
                    buf.clone()
                };
                *buffer = Some(buf.detach());
            }
            var.set(&(var.as_tensor() - (d_p * lr)?)?.detach())?;
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.config.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.config.lr = lr
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    /// Three steps of loss = sum(g_t * p) with fixed per-step gradients g_t, so the gradient
    /// is exactly g_t, against updates worked out by hand.
    fn run(config: SgdConfig, grads: &[[f64; 2]]) -> Vec<[f64; 2]> {
        let device = Device::Cpu;
        let var = Var::from_slice(&[1.0f64, -2.0], 2, &device).unwrap();
        let mut sgd = Sgd::new(vec![var.clone()], config).unwrap();
        let mut out = Vec::new();
        for g in grads {
            let g = Tensor::from_slice(g, 2, &device).unwrap();
            let loss = (var.as_tensor() * &g).unwrap().sum_all().unwrap();
            sgd.backward_step(&loss).unwrap();
            let v = var.as_tensor().to_vec1::<f64>().unwrap();
            out.push([v[0], v[1]]);
        }
        out
    }

    fn close(a: &[[f64; 2]], b: &[[f64; 2]]) {
        for (x, y) in a.iter().zip(b) {
            for k in 0..2 {
                assert!((x[k] - y[k]).abs() < 1e-12, "{a:?} vs {b:?}");
            }
        }
    }

    const GRADS: [[f64; 2]; 3] = [[0.5, -1.0], [0.25, 2.0], [-1.0, 0.0]];

    #[test]
    fn momentum_with_weight_decay_matches_hand_computation() {
        let config = SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.01,
            nesterov: false,
        };
        // Coordinate 0, p0 = 1:
        // step 1: d = 0.5 + 0.01*1 = 0.51; buf = 0.51; p = 1 - 0.051 = 0.949
        // step 2: d = 0.25 + 0.00949 = 0.25949; buf = 0.459 + 0.25949 = 0.71849;
        //         p = 0.949 - 0.071849 = 0.877151
        // step 3: d = -1 + 0.00877151 = -0.99122849; buf = 0.646641 - 0.99122849 = -0.34458749;
        //         p = 0.877151 + 0.034458749 = 0.911609749
        // Coordinate 1, p0 = -2:
        // step 1: d = -1 - 0.02 = -1.02; buf = -1.02; p = -2 + 0.102 = -1.898
        // step 2: d = 2 - 0.01898 = 1.98102; buf = -0.918 + 1.98102 = 1.06302;
        //         p = -1.898 - 0.106302 = -2.004302
        // step 3: d = -0.02004302; buf = 0.956718 - 0.02004302 = 0.93667498;
        //         p = -2.004302 - 0.093667498 = -2.097969498
        let expected = [
            [0.949, -1.898],
            [0.877151, -2.004302],
            [0.911609749, -2.097969498],
        ];
        close(&run(config, &GRADS), &expected);
    }

    #[test]
    fn nesterov_matches_hand_computation() {
        let config = SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.0,
            nesterov: true,
        };
        // Coordinate 0, p0 = 1:
        // step 1: d = 0.5; buf = 0.5; step = 0.5 + 0.45 = 0.95; p = 0.905
        // step 2: d = 0.25; buf = 0.45 + 0.25 = 0.7; step = 0.25 + 0.63 = 0.88; p = 0.817
        // step 3: d = -1; buf = 0.63 - 1 = -0.37; step = -1 - 0.333 = -1.333; p = 0.9503
        // Coordinate 1, p0 = -2:
        // step 1: d = -1; buf = -1; step = -1.9; p = -1.81
        // step 2: d = 2; buf = -0.9 + 2 = 1.1; step = 2 + 0.99 = 2.99; p = -2.109
        // step 3: d = 0; buf = 0.99; step = 0.891; p = -2.1981
        let expected = [[0.905, -1.81], [0.817, -2.109], [0.9503, -2.1981]];
        close(&run(config, &GRADS), &expected);
    }

    #[test]
    fn nesterov_with_weight_decay_and_plain_sgd() {
        let config = SgdConfig {
            lr: 0.5,
            momentum: 0.5,
            weight_decay: 0.1,
            nesterov: true,
        };
        // Coordinate 0 only checked by hand, p0 = 1:
        // step 1: d = 0.5 + 0.1 = 0.6; buf = 0.6; step = 0.6 + 0.3 = 0.9; p = 0.55
        // step 2: d = 0.25 + 0.055 = 0.305; buf = 0.3 + 0.305 = 0.605;
        //         step = 0.305 + 0.3025 = 0.6075; p = 0.55 - 0.30375 = 0.24625
        let got = run(config, &GRADS[..2]);
        assert!((got[0][0] - 0.55).abs() < 1e-12, "{got:?}");
        assert!((got[1][0] - 0.24625).abs() < 1e-12, "{got:?}");

        // momentum 0: plain SGD, p -= lr * g.
        let plain = SgdConfig {
            lr: 0.1,
            momentum: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        };
        close(&run(plain, &GRADS[..1]), &[[0.95, -1.9]]);
    }

    #[test]
    fn rejects_bad_config_and_skips_integer_vars() {
        let device = Device::Cpu;
        let bad = SgdConfig {
            momentum: 1.5,
            ..SgdConfig::default()
        };
        assert!(Sgd::new(vec![], bad).is_err());
        let nesterov_without_momentum = SgdConfig {
            momentum: 0.0,
            nesterov: true,
            ..SgdConfig::default()
        };
        assert!(Sgd::new(vec![], nesterov_without_momentum).is_err());
        let ints = Var::zeros(3, DType::U32, &device).unwrap();
        let sgd = Sgd::new(vec![ints], SgdConfig::default()).unwrap();
        assert!(sgd.names().is_empty());
    }
}
