//! Finding a CLIP checkpoint's files: a local folder, or a Hugging Face repo id resolved in
//! the standard hub cache (`$HF_HUB_CACHE`, `$HF_HOME/hub`, `~/.cache/huggingface/hub`),
//! laid out `models--ORG--NAME/snapshots/REVISION/`. Fetching from the hub is the
//! `download` feature's job; this module never touches the network.

use std::path::{Path, PathBuf};

use super::ClipError;
use crate::artifact::IoContext;

type Result<T, E = ClipError> = std::result::Result<T, E>;

/// A checkpoint folder holding this file has random weights (softtext's fixtures); reports
/// made with it say so prominently, and fine-tuned copies keep it.
pub const RANDOM_WEIGHTS_MARKER: &str = "RANDOM_WEIGHTS.md";

/// The files of a checkpoint that softtext reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipFiles {
    /// What the user named: a folder or a repo id.
    pub name: String,
    /// The folder holding the files (for a repo id, its snapshot in the hub cache).
    pub dir: PathBuf,
    /// `config.json`: the architecture ([`super::ClipConfig`]).
    pub config: PathBuf,
    /// `model.safetensors`: the weights, by Hugging Face `CLIPModel` tensor names.
    pub weights: PathBuf,
    /// `tokenizer.json`: the BPE vocabulary and merges.
    pub tokenizer: PathBuf,
    /// `preprocessor_config.json`, when the checkpoint has one.
    pub preprocessor: Option<PathBuf>,
}

/// File name of the architecture description.
pub const CONFIG: &str = "config.json";
/// File name of the weights.
pub const WEIGHTS: &str = "model.safetensors";
/// File name of the tokenizer.
pub const TOKENIZER: &str = "tokenizer.json";
/// File name of the optional preprocessing settings.
pub const PREPROCESSOR: &str = "preprocessor_config.json";
/// The files a checkpoint must have.
pub const REQUIRED: [&str; 3] = [CONFIG, WEIGHTS, TOKENIZER];

impl ClipFiles {
    /// The checkpoint in `dir`, if it has every required file; otherwise the names of the
    /// missing ones. `name` is recorded as [`ClipFiles::name`].
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
    /// [`ClipError::Missing`] lists what is missing where, and how to get the checkpoint.
    pub fn resolve(spec: &str) -> Result<Self> {
        let path = Path::new(spec);
        if path.is_dir() {
            return Self::in_dir(spec, path).map_err(|missing| {
                ClipError::Missing(format!(
                    "CLIP checkpoint {spec}: missing {} in {}",
                    missing.join(", "),
                    path.display()
                ))
            });
        }
        if !looks_like_repo_id(spec) {
            return Err(ClipError::Missing(format!(
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
        Err(ClipError::Missing(format!(
            "CLIP checkpoint {spec}: needs {} and optionally {PREPROCESSOR}; searched: {}. \
             Put the files in a folder and pass it as --clip FOLDER (or `model` under [clip] \
             in a reproduce config), fill the Hugging Face cache \
             (e.g. `huggingface-cli download {spec}`), or build with --features download",
            REQUIRED.join(", "),
            searched.join("; ")
        )))
    }

    /// The checkpoint's identity, for cache keys: a hash of `config.json`, `tokenizer.json`
    /// and `preprocessor_config.json` and of the weights' content, obtained without reading
    /// the weights where possible:
    ///
    /// * in a Hugging Face cache, `model.safetensors` is a link to `blobs/SHA256`, and that
    ///   file name (checked on download against the hub's hash) is the weights' SHA-256;
    /// * otherwise the weights are hashed (BLAKE3, memory-mapped; about a second for
    ///   ViT-L/14) once, and the hash is remembered in the user cache folder
    ///   ([`user_cache_dir`]) under the file's canonical path, size and modification time
    ///   (and, on Unix, inode and change time). A same-sized re-export with other values gets
    ///   a new modification time, so it is hashed again and gets a new fingerprint.
    ///
    /// Without a usable cache folder the weights are hashed every time; that is never an
    /// error.
    pub fn fingerprint(&self) -> Result<String> {
        self.fingerprint_with(user_cache_dir().as_deref())
    }

    /// [`ClipFiles::fingerprint`] with the stamps kept in `cache` (`None`: always hash).
    pub fn fingerprint_with(&self, cache: Option<&Path>) -> Result<String> {
        let mut parts = Vec::new();
        for (role, path) in [
            (CONFIG, Some(&self.config)),
            (TOKENIZER, Some(&self.tokenizer)),
            (PREPROCESSOR, self.preprocessor.as_ref()),
        ] {
            let content = match path {
                Some(path) => {
                    let bytes = std::fs::read(path).at(path)?;
                    blake3::hash(&bytes).to_hex().to_string()
                }
                None => "absent".to_string(),
            };
            parts.push(format!("{role}={content}"));
        }
        parts.push(format!(
            "{WEIGHTS}={}",
            weights_identity(&self.weights, cache)?
        ));
        Ok(crate::artifact::content_key(
            "softtext-checkpoint-v2",
            &parts,
        ))
    }
}

/// Where softtext remembers what it computed about files outside its outputs (the weights'
/// hashes): `$SOFTTEXT_CACHE`, else `$XDG_CACHE_HOME/softtext`, else `~/.cache/softtext`.
pub fn user_cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("SOFTTEXT_CACHE") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("softtext"));
    }
    var("HOME").map(|home| PathBuf::from(home).join(".cache/softtext"))
}

/// `sha256:HEX` for a Hugging Face cache blob, else `blake3:HEX` of the content.
fn weights_identity(weights: &Path, cache: Option<&Path>) -> Result<String> {
    if let Some(sha256) = hub_blob_sha256(weights) {
        return Ok(format!("sha256:{sha256}"));
    }
    let stamp = cache.and_then(|dir| WeightsStamp::of(weights).map(|s| (dir, s)));
    if let Some((dir, stamp)) = &stamp {
        if let Some(hash) = stamp.lookup(dir) {
            return Ok(format!("blake3:{hash}"));
        }
    }
    let mut h = blake3::Hasher::new();
    h.update_mmap_rayon(weights).at(weights)?;
    let hash = h.finalize().to_hex().to_string();
    if let Some((dir, stamp)) = &stamp {
        // A cache that cannot be written only costs the next run another hash.
        let _ = stamp.store(dir, &hash);
    }
    Ok(format!("blake3:{hash}"))
}

/// The SHA-256 a hub cache names `path`'s content by: `path` is a symbolic link resolving
/// to `.../blobs/HEX` with 64 hex digits.
fn hub_blob_sha256(path: &Path) -> Option<String> {
    std::fs::symlink_metadata(path)
        .ok()
        .filter(|m| m.file_type().is_symlink())?;
    let target = std::fs::canonicalize(path).ok()?;
    let in_blobs = target
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|d| d == "blobs");
    let name = target.file_name()?.to_str()?;
    let is_sha256 = name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit());
    (in_blobs && is_sha256).then(|| name.to_ascii_lowercase())
}

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct WeightsStamp {
    path: PathBuf,
    size: u64,
    /// Modification time, nanoseconds since the Unix epoch (decimal: u128).
    mtime_ns: String,
    /// Unix only: inode number and change time (`ino:ctime_s:ctime_ns`), which a rewrite
    /// changes even when it restores the modification time.
    unix: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StampFile {
    stamp: WeightsStamp,
    blake3: String,
}

impl WeightsStamp {
    fn of(path: &Path) -> Option<Self> {
        let path = std::fs::canonicalize(path).ok()?;
        let meta = std::fs::metadata(&path).ok()?;
        let mtime = meta
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        #[cfg(unix)]
        let unix = {
            use std::os::unix::fs::MetadataExt;
            Some(format!(
                "{}:{}:{}:{}",
                meta.dev(),
                meta.ino(),
                meta.ctime(),
                meta.ctime_nsec()
            ))
        };
        #[cfg(not(unix))]
        let unix = None;
        Some(Self {
            path,
            size: meta.len(),
            mtime_ns: mtime.as_nanos().to_string(),
            unix,
        })
    }

    /// The stamp's file in `dir`: one per file version, named by the stamp's hash.
    fn file(&self, dir: &Path) -> PathBuf {
        let json = serde_json::to_string(self).expect("stamps serialise");
        let name = crate::artifact::content_key("softtext-weights-stamp-v1", &[json]);
        dir.join("weights").join(format!("{name}.json"))
    }

    fn lookup(&self, dir: &Path) -> Option<String> {
        let text = std::fs::read_to_string(self.file(dir)).ok()?;
        let stored: StampFile = serde_json::from_str(&text).ok()?;
        let valid =
            stored.blake3.len() == 64 && stored.blake3.bytes().all(|b| b.is_ascii_hexdigit());
        (stored.stamp == *self && valid).then_some(stored.blake3)
    }

    fn store(
        &self,
        dir: &Path,
        blake3: &str,
    ) -> std::result::Result<(), crate::artifact::FileError> {
        let json = serde_json::to_string_pretty(&StampFile {
            stamp: self.clone(),
            blake3: blake3.to_string(),
        })
        .expect("stamps serialise");
        crate::artifact::write_atomic(&self.file(dir), json.as_bytes())
    }
}

/// Whether `spec` has the shape of a Hugging Face repo id: `ORG/NAME`, each part non-empty
/// ASCII letters, digits, `-`, `_` or `.`.
pub(crate) fn looks_like_repo_id(spec: &str) -> bool {
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
pub(crate) fn repo_folder(repo_id: &str) -> String {
    format!("models--{}", repo_id.replace('/', "--"))
}

/// The hub cache folders to look in, in the order `huggingface_hub` uses.
pub(crate) fn hub_caches() -> Vec<PathBuf> {
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

    /// A checkpoint folder with small stand-ins for the three required files.
    fn fake_checkpoint(dir: &Path, weights: &[u8]) -> ClipFiles {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(CONFIG), b"{}").unwrap();
        std::fs::write(dir.join(TOKENIZER), b"{\"model\": {}}").unwrap();
        std::fs::write(dir.join(WEIGHTS), weights).unwrap();
        ClipFiles::in_dir("fake", dir).unwrap()
    }

    fn stamp_files(cache: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(cache.join("weights"))
            .map(|rd| rd.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default()
    }

    #[cfg(unix)]
    #[test]
    fn hub_blob_names_stand_for_the_weights_without_reading_them() {
        let root = tempfile::tempdir().unwrap();
        let cache = root.path().join("softtext-cache");
        let repo = root.path().join("hub/models--org--name");
        let sha = "ab".repeat(32);
        let blobs = repo.join("blobs");
        std::fs::create_dir_all(&blobs).unwrap();
        // Not the content the name promises: only the name may be used.
        std::fs::write(blobs.join(&sha), b"not really weights").unwrap();
        let snapshot = repo.join("snapshots/0123");
        let files = fake_checkpoint(&snapshot, b"placeholder");
        std::fs::remove_file(&files.weights).unwrap();
        std::os::unix::fs::symlink(Path::new("../../blobs").join(&sha), &files.weights).unwrap();

        assert_eq!(hub_blob_sha256(&files.weights), Some(sha.clone()));
        let first = files.fingerprint_with(Some(&cache)).unwrap();
        // No stamp is written for hub blobs, and the blob's content does not matter.
        assert!(stamp_files(&cache).is_empty());
        std::fs::write(blobs.join(&sha), b"other bytes, same name").unwrap();
        assert_eq!(files.fingerprint_with(Some(&cache)).unwrap(), first);
        // A blob named by another hash is other weights.
        let other = "cd".repeat(32);
        std::fs::write(blobs.join(&other), b"x").unwrap();
        std::fs::remove_file(&files.weights).unwrap();
        std::os::unix::fs::symlink(Path::new("../../blobs").join(&other), &files.weights).unwrap();
        assert_ne!(files.fingerprint_with(Some(&cache)).unwrap(), first);
        // The small files count too.
        std::fs::write(&files.config, b"{ }").unwrap();
        let changed_config = files.fingerprint_with(Some(&cache)).unwrap();
        assert_ne!(changed_config, first);
    }

    #[test]
    fn local_weights_are_hashed_once_then_found_by_their_stamp() {
        let root = tempfile::tempdir().unwrap();
        let cache = root.path().join("cache");
        let files = fake_checkpoint(&root.path().join("ckpt"), b"weights version one");
        let uncached = files.fingerprint_with(None).unwrap();
        assert!(stamp_files(&cache).is_empty());

        let first = files.fingerprint_with(Some(&cache)).unwrap();
        assert_eq!(first, uncached, "the stamp must not change the fingerprint");
        let stamps = stamp_files(&cache);
        assert_eq!(stamps.len(), 1, "{stamps:?}");

        // A hit uses the remembered hash instead of reading the file: planting another
        // hash in the stamp shows up in the fingerprint.
        let text = std::fs::read_to_string(&stamps[0]).unwrap();
        let real = blake3::hash(b"weights version one").to_hex().to_string();
        assert!(text.contains(&real), "{text}");
        let planted = "0".repeat(64);
        std::fs::write(&stamps[0], text.replace(&real, &planted)).unwrap();
        let from_stamp = files.fingerprint_with(Some(&cache)).unwrap();
        assert_ne!(from_stamp, first);
        std::fs::write(&stamps[0], &text).unwrap();
        assert_eq!(files.fingerprint_with(Some(&cache)).unwrap(), first);

        // A same-sized rewrite with other values (and a new modification time) misses the
        // stamp, is hashed again and gets a new fingerprint.
        std::fs::write(&files.weights, b"weights version two").unwrap();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&files.weights)
            .unwrap()
            .set_modified(later)
            .unwrap();
        let second = files.fingerprint_with(Some(&cache)).unwrap();
        assert_ne!(second, first);
        assert_eq!(second, files.fingerprint_with(None).unwrap());
        assert_eq!(stamp_files(&cache).len(), 2);
    }

    #[test]
    fn an_unusable_cache_falls_back_to_hashing() {
        let root = tempfile::tempdir().unwrap();
        let files = fake_checkpoint(&root.path().join("ckpt"), b"w");
        // A file where the cache folder should be: stamps cannot be written or read.
        let blocked = root.path().join("blocked");
        std::fs::write(&blocked, b"").unwrap();
        assert_eq!(
            files.fingerprint_with(Some(&blocked)).unwrap(),
            files.fingerprint_with(None).unwrap()
        );
    }

    #[test]
    fn missing_small_files_are_errors_naming_them() {
        let root = tempfile::tempdir().unwrap();
        let files = fake_checkpoint(&root.path().join("ckpt"), b"w");
        std::fs::remove_file(&files.tokenizer).unwrap();
        let err = files.fingerprint_with(None).unwrap_err();
        assert!(matches!(err, ClipError::Io(_)), "{err:?}");
        assert!(err.to_string().contains("tokenizer.json"), "{err}");
    }
}
