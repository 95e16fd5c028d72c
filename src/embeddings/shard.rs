//! Sharded encoding: a dataset split into `N` contiguous slices of its order, each encoded by
//! its own process (a Slurm array task, or any scheduler's), then joined with [`merge`] into
//! the file an unsharded run writes. softtext schedules nothing itself: the cluster's
//! scheduler does.
//!
//! A shard file is an ordinary image embedding file whose metadata also records which slice
//! it holds and the key of the whole run, so the merge can refuse shards of another run,
//! overlaps and gaps.

use std::fmt;
use std::str::FromStr;

use super::{Embeddings, EmbeddingsError, Kind};

/// Metadata keys of a shard file.
const INDEX: &str = "shard_index";
const COUNT: &str = "shard_count";
const START: &str = "shard_start";
const END: &str = "shard_end";
const TOTAL: &str = "shard_total_rows";
const FULL_KEY: &str = "shard_full_key";
/// Every shard key, dropped from the merged file's metadata.
const SHARD_KEYS: [&str; 6] = [INDEX, COUNT, START, END, TOTAL, FULL_KEY];

/// Slice `index` (0-based) of `count`: `--shard I/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which slice, `0..count`.
    pub index: usize,
    /// How many slices the dataset is split into.
    pub count: usize,
}

impl Shard {
    /// The rows of this slice among `rows`, for an encoder that runs batches of `batch`
    /// rows: contiguous, in order, starting on a batch boundary, balanced in whole batches,
    /// and together the slices cover every row once.
    ///
    /// Aligning slices to batches is what makes the merged file equal an unsharded run bit
    /// for bit: the encoders' results depend in their last bits on which images share a
    /// batch (the matrix kernels block differently for other batch shapes), and aligned
    /// slices give every image the batch it has in the unsharded run of the same batch size.
    pub fn range(self, rows: usize, batch: usize) -> std::ops::Range<usize> {
        let batch = batch.max(1);
        let batches = rows.div_ceil(batch);
        let first = batches * self.index / self.count;
        let last = batches * (self.index + 1) / self.count;
        (first * batch).min(rows)..(last * batch).min(rows)
    }

    /// The shard of a Slurm array task, from `SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_COUNT`
    /// and (when the array does not start at 0) `SLURM_ARRAY_TASK_MIN`; `None` outside an
    /// array job.
    pub fn from_slurm_env() -> Result<Option<Self>, EmbeddingsError> {
        Self::from_slurm_vars(|name| std::env::var(name).ok())
    }

    /// [`Shard::from_slurm_env`] with the variables looked up by `var`.
    pub fn from_slurm_vars(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, EmbeddingsError> {
        let (Some(id), Some(count)) = (var("SLURM_ARRAY_TASK_ID"), var("SLURM_ARRAY_TASK_COUNT"))
        else {
            return Ok(None);
        };
        let number = |name: &str, text: &str| {
            text.trim().parse::<usize>().map_err(|_| {
                EmbeddingsError::invalid(format!("{name}={text:?} is not a whole number"))
            })
        };
        let id = number("SLURM_ARRAY_TASK_ID", &id)?;
        let min = match var("SLURM_ARRAY_TASK_MIN") {
            Some(min) => number("SLURM_ARRAY_TASK_MIN", &min)?,
            None => 0,
        };
        let count = number("SLURM_ARRAY_TASK_COUNT", &count)?;
        let index = id.checked_sub(min).ok_or_else(|| {
            EmbeddingsError::invalid(format!(
                "SLURM_ARRAY_TASK_ID={id} is below SLURM_ARRAY_TASK_MIN={min}"
            ))
        })?;
        Self::new(index, count).map(Some)
    }

    /// A checked shard: `count >= 1` and `index < count`.
    pub fn new(index: usize, count: usize) -> Result<Self, EmbeddingsError> {
        if count == 0 || index >= count {
            return Err(EmbeddingsError::invalid(format!(
                "--shard {index}/{count}: needs 0 <= I < N (shards are numbered from 0)"
            )));
        }
        Ok(Self { index, count })
    }

    /// Records this slice (`range`, from [`Shard::range`]) of a run of `total` rows whose
    /// unsharded file has key `full_key` in a shard file's metadata.
    pub fn annotate(
        self,
        embeddings: &mut Embeddings,
        range: std::ops::Range<usize>,
        total: usize,
        full_key: &str,
    ) {
        for (key, value) in [
            (INDEX, self.index.to_string()),
            (COUNT, self.count.to_string()),
            (START, range.start.to_string()),
            (END, range.end.to_string()),
            (TOTAL, total.to_string()),
            (FULL_KEY, full_key.to_string()),
        ] {
            embeddings.info.insert(key.to_string(), value);
        }
    }
}

impl FromStr for Shard {
    type Err = EmbeddingsError;

    /// `I/N`, e.g. `0/3`.
    fn from_str(text: &str) -> Result<Self, EmbeddingsError> {
        let parsed = text
            .split_once('/')
            .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
        match parsed {
            Some((index, count)) => Self::new(index, count),
            None => Err(EmbeddingsError::invalid(format!(
                "--shard {text:?}: expected I/N, e.g. 0/3 (shards are numbered from 0)"
            ))),
        }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Where a shard file sits in its run.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slice {
    shard: Shard,
    start: usize,
    end: usize,
    total: usize,
    full_key: String,
}

fn slice_of(name: &str, e: &Embeddings) -> Result<Slice, EmbeddingsError> {
    let field = |key: &str| {
        e.info.get(key).ok_or_else(|| {
            EmbeddingsError::invalid(format!(
                "{name}: not a shard file (no softtext.{key}); encode it with --shard I/N"
            ))
        })
    };
    let number = |key: &str| -> Result<usize, EmbeddingsError> {
        field(key)?.parse().map_err(|_| {
            EmbeddingsError::invalid(format!("{name}: softtext.{key} is not a whole number"))
        })
    };
    let slice = Slice {
        shard: Shard::new(number(INDEX)?, number(COUNT)?)?,
        start: number(START)?,
        end: number(END)?,
        total: number(TOTAL)?,
        full_key: field(FULL_KEY)?.clone(),
    };
    if slice.end < slice.start || slice.end - slice.start != e.len() {
        return Err(EmbeddingsError::invalid(format!(
            "{name}: records rows {}..{} but holds {} rows",
            slice.start,
            slice.end,
            e.len()
        )));
    }
    Ok(slice)
}

/// Joins shard files (`(name, embeddings)`, in any order) into the file of the unsharded
/// run: the same rows, in dataset order, the same key and metadata, and tensors equal to an
/// unsharded encoding's. Refuses image files that are not shards, shards of different runs
/// (another checkpoint, dtype, device, dataset or slicing), overlapping or repeated slices,
/// and gaps.
pub fn merge(shards: &[(String, Embeddings)]) -> Result<Embeddings, EmbeddingsError> {
    let (first_name, first) = shards
        .first()
        .ok_or_else(|| EmbeddingsError::invalid("merge-embeddings: no shard files given"))?;
    let mut slices = Vec::with_capacity(shards.len());
    for (name, e) in shards {
        if e.kind != Kind::Image {
            return Err(EmbeddingsError::invalid(format!(
                "{name}: holds text embeddings; only image shards are merged"
            )));
        }
        let slice = slice_of(name, e)?;
        let reference = slices.first().map(|(_, s): &(&str, Slice)| s);
        if let Some(r) = reference {
            if slice.full_key != r.full_key || slice.total != r.total {
                return Err(EmbeddingsError::invalid(format!(
                    "{name}: a shard of another run than {first_name} (another checkpoint, dtype, device, dataset manifest or --limit)"
                )));
            }
            if slice.shard.count != r.shard.count {
                return Err(EmbeddingsError::invalid(format!(
                    "{name}: shard {} of {}, but {first_name} is of {}",
                    slice.shard.index, slice.shard.count, r.shard.count
                )));
            }
        }
        if e.dim != first.dim || e.classes != first.classes {
            return Err(EmbeddingsError::invalid(format!(
                "{name}: {} dims and {} classes, {first_name} has {} and {}",
                e.dim,
                e.classes.len(),
                first.dim,
                first.classes.len()
            )));
        }
        slices.push((name.as_str(), slice));
    }
    let mut order: Vec<usize> = (0..shards.len()).collect();
    order.sort_by_key(|&i| (slices[i].1.start, slices[i].1.end));
    let mut next = 0;
    for &i in &order {
        let (name, slice) = &slices[i];
        if slice.start < next {
            return Err(EmbeddingsError::invalid(format!(
                "{name}: rows {}..{} overlap rows already covered up to {next} (shard {} given twice?)",
                slice.start, slice.end, slice.shard
            )));
        }
        if slice.start > next {
            return Err(EmbeddingsError::invalid(format!(
                "rows {next}..{} are in no shard given (before {name}); merge needs every shard",
                slice.start
            )));
        }
        next = slice.end;
    }
    let total = slices[0].1.total;
    if next != total {
        return Err(EmbeddingsError::invalid(format!(
            "rows {next}..{total} are in no shard given; merge needs every shard of {}",
            slices[0].1.shard.count
        )));
    }
    let mut merged = Embeddings {
        kind: Kind::Image,
        dim: first.dim,
        data: Vec::with_capacity(total * first.dim),
        ids: Vec::with_capacity(total),
        labels: Some(Vec::with_capacity(total)),
        classes: first.classes.clone(),
        key: slices[0].1.full_key.clone(),
        info: first.info.clone(),
    };
    for &i in &order {
        let e = &shards[i].1;
        merged.data.extend_from_slice(&e.data);
        merged.ids.extend(e.ids.iter().cloned());
        if let (Some(all), Some(labels)) = (merged.labels.as_mut(), e.labels.as_ref()) {
            all.extend_from_slice(labels);
        }
    }
    for key in SHARD_KEYS {
        merged.info.remove(key);
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_contiguous_batch_aligned_balanced_and_cover_every_row_once() {
        for rows in [0usize, 1, 2, 7, 10, 90, 200] {
            for batch in [1, 3, 16, 64] {
                for count in 1..=5 {
                    let batches = rows.div_ceil(batch);
                    let mut next = 0;
                    for index in 0..count {
                        let r = Shard::new(index, count).unwrap().range(rows, batch);
                        let at = format!("rows {rows}, batch {batch}, shard {index}/{count}");
                        assert_eq!(r.start, next, "{at}");
                        assert!(r.start % batch == 0 || r.start == rows, "{at}");
                        let whole = r.len().div_ceil(batch);
                        assert!(whole <= batches / count + 1, "{at}");
                        next = r.end;
                    }
                    assert_eq!(next, rows);
                }
            }
        }
        assert_eq!(Shard::new(1, 3).unwrap().range(90, 16), 32..64);
    }

    #[test]
    fn parses_i_over_n_and_slurm_variables() {
        assert_eq!(
            "1/3".parse::<Shard>().unwrap(),
            Shard { index: 1, count: 3 }
        );
        assert!("3/3".parse::<Shard>().is_err());
        assert!("1-3".parse::<Shard>().is_err());
        assert!("0/0".parse::<Shard>().is_err());
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Shard::from_slurm_vars(vars(&[])).unwrap(), None);
        assert_eq!(
            Shard::from_slurm_vars(vars(&[
                ("SLURM_ARRAY_TASK_ID", "2"),
                ("SLURM_ARRAY_TASK_COUNT", "3")
            ]))
            .unwrap(),
            Some(Shard { index: 2, count: 3 })
        );
        // `--array=1-3`: ids 1, 2, 3 are shards 0, 1, 2.
        assert_eq!(
            Shard::from_slurm_vars(vars(&[
                ("SLURM_ARRAY_TASK_ID", "3"),
                ("SLURM_ARRAY_TASK_MIN", "1"),
                ("SLURM_ARRAY_TASK_COUNT", "3")
            ]))
            .unwrap(),
            Some(Shard { index: 2, count: 3 })
        );
        assert!(Shard::from_slurm_vars(vars(&[
            ("SLURM_ARRAY_TASK_ID", "x"),
            ("SLURM_ARRAY_TASK_COUNT", "3")
        ]))
        .is_err());
    }
}
