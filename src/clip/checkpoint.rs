//! Finding a CLIP checkpoint's files: a local folder, or a Hugging Face repo id resolved in
//! the standard hub cache (`$HF_HUB_CACHE`, `$HF_HOME/hub`, `~/.cache/huggingface/hub`),
//! laid out `models--ORG--NAME/snapshots/REVISION/`. Fetching from the hub is the
//! `download` feature's job; this module never touches the network.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The files of a checkpoint that softtext reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipFiles {
    /// What the user named: a folder or a repo id.
    pub name: String,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub weights: PathBuf,
    pub tokenizer: PathBuf,
    /// `preprocessor_config.json`, when the checkpoint has one.
    pub preprocessor: Option<PathBuf>,
}

pub const CONFIG: &str = "config.json";
pub const WEIGHTS: &str = "model.safetensors";
pub const TOKENIZER: &str = "tokenizer.json";
pub const PREPROCESSOR: &str = "preprocessor_config.json";
/// The files a checkpoint must have.
pub const REQUIRED: [&str; 3] = [CONFIG, WEIGHTS, TOKENIZER];

impl ClipFiles {
    /// The checkpoint in `dir`, if it has every required file.
    pub fn in_dir(name: &str, dir: &Path) -> std::result::Result<Self, Vec<&'static str>> {
        let missing: Vec<&str> = REQUIRED
            .into_iter()
            .filter(|f| !dir.join(f).is_file())
            .collect();
        if !missing.is_empty() {
            return Err(missing);
        }
        let preprocessor = dir.join(PREPROCESSOR);
        Ok(Self {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            config: dir.join(CONFIG),
            weights: dir.join(WEIGHTS),
            tokenizer: dir.join(TOKENIZER),
            preprocessor: preprocessor.is_file().then_some(preprocessor),
        })
    }

    /// Resolves `spec` (a folder, or `ORG/NAME` in the local hub cache) without network.
    pub fn resolve(spec: &str) -> Result<Self> {
        let path = Path::new(spec);
        if path.is_dir() {
            return Self::in_dir(spec, path).map_err(|missing| {
                Error::Missing(format!(
                    "CLIP checkpoint {spec}: missing {} in {}",
                    missing.join(", "),
                    path.display()
                ))
            });
        }
        if !looks_like_repo_id(spec) {
            return Err(Error::Missing(format!(
                "CLIP checkpoint {spec}: no such folder, and not a Hugging Face repo id (ORG/NAME)"
            )));
        }
        let mut searched = Vec::new();
        for cache in hub_caches() {
            let repo = cache.join(repo_folder(spec));
            for snapshot in snapshots(&repo) {
                match Self::in_dir(spec, &snapshot) {
                    Ok(files) => return Ok(files),
                    Err(missing) => searched.push(format!(
                        "{} (missing {})",
                        snapshot.display(),
                        missing.join(", ")
                    )),
                }
            }
            if !repo.exists() {
                searched.push(format!("{} (not there)", repo.display()));
            }
        }
        Err(Error::Missing(format!(
            "CLIP checkpoint {spec}: needs {} and optionally {PREPROCESSOR}; searched: {}. \
             Put the files in a folder and pass it as --clip FOLDER (or `model` under [clip] \
             in a reproduce config), fill the Hugging Face cache \
             (e.g. `huggingface-cli download {spec}`), or build with --features download",
            REQUIRED.join(", "),
            searched.join("; ")
        )))
    }

    /// Content hash of everything that determines the model's outputs. The weights are
    /// hashed in full (memory-mapped; about a second for ViT-L/14) because a same-sized
    /// re-export with other values must not reuse old embeddings.
    pub fn content_hash(&self) -> Result<String> {
        let mut h = blake3::Hasher::new();
        h.update(b"softtext-checkpoint-v1\0");
        for path in [
            Some(&self.config),
            Some(&self.tokenizer),
            self.preprocessor.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            h.update(&(bytes.len() as u64).to_le_bytes());
            h.update(&bytes);
        }
        h.update_mmap_rayon(&self.weights)
            .map_err(|e| Error::io(&self.weights, e))?;
        Ok(h.finalize().to_hex().to_string())
    }
}

pub fn looks_like_repo_id(spec: &str) -> bool {
    let mut parts = spec.split('/');
    let (Some(org), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    ok(org) && ok(name)
}

/// `openai/clip-vit-large-patch14` -> `models--openai--clip-vit-large-patch14`.
pub fn repo_folder(repo_id: &str) -> String {
    format!("models--{}", repo_id.replace('/', "--"))
}

/// The hub cache folders to look in, in the order `huggingface_hub` uses.
pub fn hub_caches() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("HF_HUB_CACHE") {
        out.push(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("HF_HOME") {
        out.push(PathBuf::from(p).join("hub"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        out.push(PathBuf::from(home).join(".cache/huggingface/hub"));
    }
    out.dedup();
    out
}

/// Snapshot folders of a cached repo: the one `refs/main` points to first, then the rest
/// by name.
fn snapshots(repo: &Path) -> Vec<PathBuf> {
    let dir = repo.join("snapshots");
    let mut all: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    all.sort();
    if let Ok(main) = std::fs::read_to_string(repo.join("refs/main")) {
        let main = dir.join(main.trim());
        if let Some(pos) = all.iter().position(|p| *p == main) {
            let m = all.remove(pos);
            all.insert(0, m);
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids() {
        assert!(looks_like_repo_id("openai/clip-vit-large-patch14"));
        assert!(!looks_like_repo_id("a/b/c"));
        assert!(!looks_like_repo_id("noslash"));
        assert_eq!(
            repo_folder("openai/clip-vit-base-patch32"),
            "models--openai--clip-vit-base-patch32"
        );
    }
}
