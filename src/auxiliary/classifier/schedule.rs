//! Learning rate per epoch. Cosine annealing to zero (PyTorch's `CosineAnnealingLR` with
//! `T_max` = epochs, stepped once per epoch) is the common choice for 200-epoch CIFAR runs.

use std::fmt;
use std::str::FromStr;

use super::{ClassifierError, Result};

/// How the learning rate changes from epoch to epoch, as a multiple of the base rate.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// `lr * (1 + cos(pi * epoch / epochs)) / 2`.
    Cosine,
    /// `lr * gamma^(epoch / every)`.
    Step {
        /// Epochs between decays (at least 1).
        every: usize,
        /// Factor applied at each decay, finite and `> 0`.
        gamma: f64,
    },
}

impl Schedule {
    /// Rate for the 0-based `epoch` of `epochs`.
    pub fn lr(&self, base: f64, epoch: usize, epochs: usize) -> f64 {
        match *self {
            Schedule::Constant => base,
            Schedule::Cosine => {
                let t = epoch as f64 / epochs.max(1) as f64;
                base * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
            Schedule::Step { every, gamma } => {
                base * gamma.powi((epoch / every.max(1)).min(i32::MAX as usize) as i32)
            }
        }
    }

    /// Refuses a step schedule with `every == 0` or a gamma that is not finite and
    /// positive.
    pub fn check(&self) -> std::result::Result<(), String> {
        match *self {
            Schedule::Step { every, gamma } if every == 0 || !(gamma.is_finite() && gamma > 0.0) => {
                Err(format!(
                    "step schedule needs every > 0 and a finite gamma > 0, got every {every}, gamma {gamma}"
                ))
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Constant => f.write_str("constant"),
            Schedule::Cosine => f.write_str("cosine"),
            Schedule::Step { every, gamma } => write!(f, "step:{every}:{gamma}"),
        }
    }
}

/// `constant`, `cosine` or `step:EVERY:GAMMA` (e.g. `step:60:0.2`).
impl FromStr for Schedule {
    type Err = ClassifierError;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            ClassifierError::invalid(format!(
                "learning-rate schedule {s:?}: use constant, cosine or step:EVERY:GAMMA (e.g. step:60:0.2)"
            ))
        };
        let schedule = match s {
            "constant" => Schedule::Constant,
            "cosine" => Schedule::Cosine,
            _ => {
                let rest = s.strip_prefix("step:").ok_or_else(bad)?;
                let (every, gamma) = rest.split_once(':').ok_or_else(bad)?;
                Schedule::Step {
                    every: every.parse().map_err(|_| bad())?,
                    gamma: gamma.parse().map_err(|_| bad())?,
                }
            }
        };
        schedule
            .check()
            .map_err(|e| ClassifierError::invalid(format!("{s:?}: {e}")))?;
        Ok(schedule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_parsing() {
        let cosine = Schedule::Cosine;
        assert_eq!(cosine.lr(0.1, 0, 200), 0.1);
        assert!((cosine.lr(0.1, 100, 200) - 0.05).abs() < 1e-15);
        assert!(cosine.lr(0.1, 199, 200) < 1e-5);
        let step: Schedule = "step:60:0.2".parse().unwrap();
        assert_eq!(
            step,
            Schedule::Step {
                every: 60,
                gamma: 0.2
            }
        );
        assert_eq!(step.lr(0.1, 59, 200), 0.1);
        assert!((step.lr(0.1, 120, 200) - 0.004).abs() < 1e-15);
        assert_eq!(step.to_string().parse::<Schedule>().unwrap(), step);
        for bad in ["cos", "step:0:0.1", "step:5", "step:5:-1"] {
            assert!(bad.parse::<Schedule>().is_err(), "{bad}");
        }
    }
}
