//! The two optimisers of fine-tuning, over named variables so a checkpoint can store each
//! state tensor beside its parameter and a resumed run continues bit for bit.
//!
//! SGD is the auxiliary classifier's PyTorch-exact [`Sgd`]. AdamW is written here because
//! candle-nn's `AdamW` keeps its moment estimates private, so a run could not be resumed
//! exactly; its arithmetic follows `torch.optim.AdamW` (single-tensor, non-fused) in the same
//! order of operations.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};
use candle_nn::Optimizer;

use super::params::{FinetuneParams, OptimizerKind};
use crate::auxiliary::classifier::{Sgd, SgdConfig};

/// `torch.optim.AdamW` with betas (0.9, 0.999) and eps 1e-8.
#[derive(Debug)]
pub struct AdamW {
    names: Vec<String>,
    vars: Vec<Var>,
    /// First and second moment estimates, `None` before the first step.
    moments: Vec<Option<(Tensor, Tensor)>>,
    /// Optimiser steps taken (PyTorch's per-parameter `step`, shared here).
    step: usize,
    lr: f64,
    weight_decay: f64,
}

/// PyTorch's default AdamW betas and epsilon.
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

impl AdamW {
    /// An optimiser over `(name, var)` pairs.
    pub fn new(vars: Vec<(String, Var)>, lr: f64, weight_decay: f64) -> Self {
        let (names, vars): (Vec<String>, Vec<Var>) = vars.into_iter().unzip();
        let moments = vec![None; vars.len()];
        Self {
            names,
            vars,
            moments,
            step: 0,
            lr,
            weight_decay,
        }
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let bias1 = 1.0 - BETA1.powi(t);
        let bias2_sqrt = (1.0 - BETA2.powi(t)).sqrt();
        for (var, moments) in self.vars.iter().zip(self.moments.iter_mut()) {
            let Some(grad) = grads.get(var) else {
                continue;
            };
            let decayed = (var.as_tensor() * (1.0 - self.lr * self.weight_decay))?;
            let (m, v) = match moments.take() {
                None => (grad.zeros_like()?, grad.zeros_like()?),
                Some(state) => state,
            };
            // PyTorch's `exp_avg.lerp_(grad, 1 - beta1)`, in its rounding order.
            let m = (&m + ((grad - &m)? * (1.0 - BETA1))?)?;
            let v = ((v * BETA2)? + (grad.sqr()? * (1.0 - BETA2))?)?;
            let denom = ((v.sqrt()? / bias2_sqrt)? + EPS)?;
            let update = (m.broadcast_div(&denom)? * (self.lr / bias1))?;
            var.set(&(decayed - update)?.detach())?;
            *moments = Some((m.detach(), v.detach()));
        }
        Ok(())
    }
}

/// The optimiser of a run, chosen by [`FinetuneParams::optimizer`].
#[derive(Debug)]
pub enum Optimiser {
    /// PyTorch SGD.
    Sgd(Sgd),
    /// PyTorch AdamW.
    AdamW(AdamW),
}

impl Optimiser {
    /// The optimiser `params` asks for, over `vars`, at the peak learning rate.
    pub fn new(params: &FinetuneParams, vars: Vec<(String, Var)>) -> Result<Self> {
        Ok(match params.optimizer {
            OptimizerKind::Sgd => Self::Sgd(Sgd::new_named(
                vars,
                SgdConfig {
                    lr: params.lr,
                    momentum: params.momentum,
                    weight_decay: params.weight_decay(),
                    nesterov: false,
                },
            )?),
            OptimizerKind::Adamw => Self::AdamW(AdamW::new(vars, params.lr, params.weight_decay())),
        })
    }

    /// One update from `grads` at learning rate `lr`.
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        match self {
            Self::Sgd(sgd) => {
                sgd.set_learning_rate(lr);
                sgd.step(grads)
            }
            Self::AdamW(adamw) => {
                adamw.lr = lr;
                adamw.step(grads)
            }
        }
    }

    /// The state tensors by name (`momentum.NAME`, `exp_avg.NAME`, `exp_avg_sq.NAME`) and
    /// the step count, for a checkpoint.
    pub fn state(&self) -> (HashMap<String, Tensor>, usize) {
        let mut state = HashMap::new();
        match self {
            Self::Sgd(sgd) => {
                for (name, buffer) in sgd.buffers() {
                    state.insert(format!("momentum.{name}"), buffer.clone());
                }
                (state, 0)
            }
            Self::AdamW(adamw) => {
                for (name, moments) in adamw.names.iter().zip(&adamw.moments) {
                    if let Some((m, v)) = moments {
                        state.insert(format!("exp_avg.{name}"), m.clone());
                        state.insert(format!("exp_avg_sq.{name}"), v.clone());
                    }
                }
                (state, adamw.step)
            }
        }
    }

    /// Restores what [`Optimiser::state`] saved.
    pub fn restore(&mut self, state: &HashMap<String, Tensor>, step: usize) -> Result<()> {
        match self {
            Self::Sgd(sgd) => {
                let names: Vec<String> = sgd.names().to_vec();
                for name in names {
                    if let Some(buffer) = state.get(&format!("momentum.{name}")) {
                        sgd.set_buffer(&name, buffer.clone())?;
                    }
                }
            }
            Self::AdamW(adamw) => {
                adamw.step = step;
                for (name, moments) in adamw.names.iter().zip(adamw.moments.iter_mut()) {
                    if let (Some(m), Some(v)) = (
                        state.get(&format!("exp_avg.{name}")),
                        state.get(&format!("exp_avg_sq.{name}")),
                    ) {
                        *moments = Some((m.clone(), v.clone()));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The learning rate of step `t` (from 0) of `total`: PyTorch's `CosineAnnealingLR` with
/// `T_max = total`, `eta_min = 0`, stepped after every optimiser step.
pub fn cosine_lr(peak: f64, t: usize, total: usize) -> f64 {
    peak * (1.0 + (std::f64::consts::PI * t as f64 / total as f64).cos()) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn cosine_starts_at_the_peak_and_halves_midway() {
        assert_eq!(cosine_lr(0.1, 0, 10), 0.1);
        assert!((cosine_lr(0.1, 5, 10) - 0.05).abs() < 1e-15);
    }

    /// Two AdamW steps of loss = sum(p * g) against PyTorch's update worked out by hand.
    #[test]
    fn adamw_matches_the_pytorch_rule() -> Result<()> {
        let var = Var::new(&[1.0f64, -2.0], &Device::Cpu)?;
        let mut adamw = AdamW::new(vec![("p".into(), var.clone())], 0.1, 0.01);
        let g = Tensor::new(&[0.5f64, -1.0], &Device::Cpu)?;
        for _ in 0..2 {
            let loss = (var.as_tensor() * &g)?.sum_all()?;
            adamw.step(&loss.backward()?)?;
        }
        // A constant gradient: m_hat = g, v_hat = g^2, so each step moves lr * sign(g)
        // (up to eps) after decaying p by (1 - lr * wd).
        let mut expected = [1.0f64, -2.0];
        for _ in 0..2 {
            for (p, g) in expected.iter_mut().zip([0.5f64, -1.0]) {
                *p = *p * (1.0 - 0.1 * 0.01) - 0.1 * g / (g.abs() + 1e-8);
            }
        }
        let got = var.as_tensor().to_vec1::<f64>()?;
        for (got, expected) in got.iter().zip(expected) {
            assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
        }
        Ok(())
    }
}
