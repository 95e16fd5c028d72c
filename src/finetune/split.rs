//! Which cached train images train, which validate, and in which order (docs/finetune.md,
//! "Split"). Everything is seeded, so a run and its resumption see the same images.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::error::FinetuneError;
use super::params::FinetuneParam;

/// Row indices into the image file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Training rows, in file order.
    pub train: Vec<usize>,
    /// Validation rows, in file order; empty without a hold-out.
    pub validation: Vec<usize>,
}

/// Salts keep the hold-out, the shuffles and the initialisations on separate streams of one
/// seed, so changing `--shots` does not change which images validate.
const HOLDOUT_STREAM: u64 = 0x686f_6c64;
const SHUFFLE_STREAM: u64 = 0x7368_7566;

/// Splits the rows of `labels` (class indices below `classes`) into a class-balanced,
/// seeded validation hold-out and the training rows, keeping `shots` per class when given.
pub fn split(
    labels: &[usize],
    classes: usize,
    val_fraction: f64,
    shots: Option<usize>,
    seed: u64,
) -> Result<Split, FinetuneError> {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (row, &label) in labels.iter().enumerate() {
        by_class[label].push(row);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ HOLDOUT_STREAM);
    let (mut train, mut validation) = (Vec::new(), Vec::new());
    for (class, rows) in by_class.iter_mut().enumerate() {
        rows.shuffle(&mut rng);
        // At least one image validates, and at least one stays to train.
        let held = if val_fraction > 0.0 && rows.len() >= 2 {
            ((val_fraction * rows.len() as f64).round() as usize).clamp(1, rows.len() - 1)
        } else {
            0
        };
        validation.extend_from_slice(&rows[..held]);
        let remaining = &rows[held..];
        let kept = match shots {
            Some(k) if k > remaining.len() => {
                return Err(FinetuneError::param(
                    FinetuneParam::Shots,
                    format!(
                        "{k} shots, but class {class} has only {} training images{}",
                        remaining.len(),
                        if held > 0 {
                            format!(" after holding out {held} for validation")
                        } else {
                            String::new()
                        }
                    ),
                ))
            }
            Some(k) => &remaining[..k],
            None => remaining,
        };
        train.extend_from_slice(kept);
    }
    if train.is_empty() {
        return Err(FinetuneError::Input("no training images".into()));
    }
    train.sort_unstable();
    validation.sort_unstable();
    Ok(Split { train, validation })
}

/// The training rows in the order epoch `epoch` (from 0) visits them.
pub fn epoch_order(train: &[usize], shuffle: bool, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order = train.to_vec();
    if shuffle {
        let stream = SHUFFLE_STREAM
            .wrapping_add(epoch as u64)
            .wrapping_mul(0x9e37_79b9);
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ stream));
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<usize> {
        (0..30).map(|i| i % 3).collect()
    }

    #[test]
    fn holdout_is_balanced_disjoint_and_seeded() {
        let a = split(&labels(), 3, 0.2, None, 7).unwrap();
        assert_eq!(a.validation.len(), 6);
        assert_eq!(a.train.len(), 24);
        assert!(a.train.iter().all(|row| !a.validation.contains(row)));
        for class in 0..3 {
            assert_eq!(a.validation.iter().filter(|&&r| r % 3 == class).count(), 2);
        }
        assert_eq!(a, split(&labels(), 3, 0.2, None, 7).unwrap());
        assert_ne!(a, split(&labels(), 3, 0.2, None, 8).unwrap());
    }

    #[test]
    fn shots_do_not_move_the_holdout() {
        let all = split(&labels(), 3, 0.2, None, 1).unwrap();
        let few = split(&labels(), 3, 0.2, Some(2), 1).unwrap();
        assert_eq!(all.validation, few.validation);
        assert_eq!(few.train.len(), 6);
        assert!(few.train.iter().all(|row| all.train.contains(row)));
    }

    #[test]
    fn too_many_shots_name_the_class() {
        let error = split(&labels(), 3, 0.2, Some(9), 1)
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "parameter shots: 9 shots, but class 0 has only 8 training images after holding out 2 for validation"
        );
    }

    #[test]
    fn no_shuffle_keeps_file_order() {
        let train = vec![0, 3, 5, 9];
        assert_eq!(epoch_order(&train, false, 0, 4), train);
        let shuffled = epoch_order(&train, true, 0, 0);
        let mut sorted = shuffled.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, train);
        assert_eq!(shuffled, epoch_order(&train, true, 0, 0));
    }
}
