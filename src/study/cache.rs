//! The study's stage cache: each stage is keyed by a content hash of its inputs and
//! settings, and `manifest.json` records every stage's key, outputs and time, so a rerun
//! with nothing changed does no work and a changed setting recomputes only what depends
//! on it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::artifact::write_atomic;
use crate::error::Result;
use crate::observe::Observer;

/// One stage's record in `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StageRecord {
    /// The content key of the stage's inputs and settings.
    pub key: String,
    /// Every file the stage wrote, relative to the output folder.
    pub outputs: Vec<String>,
    /// Seconds the stage took when it was computed.
    pub seconds: f64,
    /// Whether this run reused the outputs of an earlier run.
    #[serde(default)]
    pub cached: bool,
}

/// `manifest.json`: what a study run did, stage by stage.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Manifest {
    /// The softtext that wrote it.
    pub softtext_version: String,
    /// The configuration that ran, as TOML.
    pub config: String,
    /// Stage name to record.
    pub stages: BTreeMap<String, StageRecord>,
}

impl Manifest {
    /// The manifest in `path`, or an empty one when there is none or it is unreadable (then
    /// every stage runs).
    pub fn read_or_default(path: &Path) -> Self {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }
}

/// Runs the stages of one study into one output folder, reusing what is up to date.
pub(crate) struct StageRunner<'a> {
    pub(crate) out: PathBuf,
    manifest_path: PathBuf,
    previous: Manifest,
    pub(crate) manifest: Manifest,
    observer: &'a dyn Observer,
    total: usize,
    started: usize,
}

impl<'a> StageRunner<'a> {
    pub(crate) fn new(
        out: &Path,
        config_toml: String,
        total: usize,
        observer: &'a dyn Observer,
    ) -> Self {
        let manifest_path = out.join("manifest.json");
        Self {
            out: out.to_path_buf(),
            previous: Manifest::read_or_default(&manifest_path),
            manifest_path,
            manifest: Manifest {
                softtext_version: crate::VERSION.to_string(),
                config: config_toml,
                stages: BTreeMap::new(),
            },
            observer,
            total,
            started: 0,
        }
    }

    /// Announces the next stage.
    pub(crate) fn start(&mut self, title: &str) {
        self.started += 1;
        self.observer.stage(self.started, self.total, title);
    }

    /// The record of `stage` from the last run, if it had this key.
    pub(crate) fn previous(&self, stage: &str, key: &str) -> Option<&StageRecord> {
        self.previous.stages.get(stage).filter(|r| r.key == key)
    }

    /// Up to date: the same key as last time, and every output (the declared ones and
    /// every file the stage reported writing last time) still on disk.
    fn fresh(&self, stage: &str, key: &str, outputs: &[String]) -> bool {
        self.previous(stage, key).is_some_and(|r| {
            outputs
                .iter()
                .chain(&r.outputs)
                .all(|o| self.out.join(o).is_file())
        })
    }

    /// Runs `compute` unless the stage is up to date, then records it in `manifest.json`
    /// with its declared outputs plus the files `compute` reports writing.
    pub(crate) fn stage(
        &mut self,
        stage: &str,
        title: &str,
        key: &str,
        outputs: &[String],
        compute: impl FnOnce(&Manifest) -> Result<Vec<PathBuf>>,
    ) -> Result<()> {
        self.start(title);
        let started = Instant::now();
        let fresh = self.fresh(stage, key, outputs);
        let mut all: Vec<String> = outputs.to_vec();
        if fresh {
            self.observer.status("      up to date");
            if let Some(previous) = self.previous.stages.get(stage) {
                all.extend(previous.outputs.iter().cloned());
            }
        } else {
            for path in compute(&self.manifest)? {
                let relative = path.strip_prefix(&self.out).unwrap_or(&path);
                all.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
        all.sort();
        all.dedup();
        let reused = self.previous.stages.get(stage).filter(|_| fresh).cloned();
        self.record(stage, key, &all, started, reused.as_ref())
    }

    /// Records a stage that decided for itself whether it was up to date (`reused`).
    pub(crate) fn record(
        &mut self,
        stage: &str,
        key: &str,
        outputs: &[String],
        started: Instant,
        reused: Option<&StageRecord>,
    ) -> Result<()> {
        self.manifest.stages.insert(
            stage.to_string(),
            StageRecord {
                key: key.to_string(),
                outputs: outputs.to_vec(),
                seconds: reused.map_or(started.elapsed().as_secs_f64(), |p| p.seconds),
                cached: reused.is_some(),
            },
        );
        let json = serde_json::to_string_pretty(&self.manifest).expect("manifest serialises");
        write_atomic(&self.manifest_path, json.as_bytes())?;
        Ok(())
    }
}

/// `items` as owned strings.
pub(crate) fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}
