//! Network fetching (the `download` feature): resumable HTTP downloads verified by checksum,
//! Hugging Face hub checkpoints into the standard hub cache, and the official CIFAR-10
//! archive.
//!
//! A download goes to `DEST.part` and is renamed into place only after it is complete and
//! verified, so an interrupted run leaves at most a `.part` file, which the next run resumes
//! with an HTTP range request.
//!
//! Nothing else in softtext touches the network: [`crate::clip::ClipFiles::resolve`] finds
//! offline what [`fetch_hub_checkpoint`] put in the hub cache.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::{Digest, Md5};
use sha2::Sha256;

use crate::artifact::{FileError, IoContext};
use crate::clip::checkpoint::{repo_folder, ClipFiles, PREPROCESSOR, REQUIRED};
use crate::clip::ClipError;

/// What can go wrong fetching a file or a checkpoint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DownloadError {
    /// A local file could not be read or written.
    #[error(transparent)]
    Io(#[from] FileError),
    /// The server does not have it, or will not give it without credentials; the message
    /// says what to do.
    #[error("{0}")]
    Missing(String),
    /// The server's answer was not what a download needs (status, headers, redirects).
    #[error("{url}: {message}")]
    Http {
        /// The URL asked for.
        url: String,
        /// What was wrong with the answer.
        message: String,
    },
    /// The connection kept dropping; what arrived is kept in `part` for the next run.
    #[error("{url}: gave up after {attempts} attempts ({last_error}); rerun to resume from {}", part.display())]
    GaveUp {
        /// The URL being downloaded.
        url: String,
        /// Attempts made, the first included.
        attempts: usize,
        /// The error that ended the last attempt.
        last_error: String,
        /// The partial download (`DEST.part`) the next run resumes.
        part: PathBuf,
    },
    /// The download failed a check (size, MD5, SHA-256) and was deleted.
    #[error("{url}: {message}; the download was deleted, rerun to fetch it again")]
    Rejected {
        /// The URL downloaded.
        url: String,
        /// Which check failed, with the expected and actual values.
        message: String,
    },
    /// The checkpoint could not be resolved locally.
    #[error(transparent)]
    Clip(#[from] ClipError),
}

type Result<T, E = DownloadError> = std::result::Result<T, E>;

fn http(url: impl Into<String>, message: impl Into<String>) -> DownloadError {
    DownloadError::Http {
        url: url.into(),
        message: message.into(),
    }
}

/// The official CIFAR-10 binary release (`cifar-10-binary.tar.gz`, 162 MiB).
pub const CIFAR10_BINARY_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
/// The MD5 (hex) published for [`CIFAR10_BINARY_URL`].
pub const CIFAR10_BINARY_MD5: &str = "c32a1d4ab5d03f1284b67883e8d87530";

/// How many times a dropped connection is resumed before giving up.
const ATTEMPTS: usize = 5;

/// The slowest transfer rate a download attempt is allowed before it is cut and resumed.
/// ureq's body timeout caps a whole response, not each read, so it is scaled to the size.
const SLOWEST_BYTES_PER_SECOND: u64 = 256 * 1024;

/// What a finished download must match before it is renamed into place.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expected<'a> {
    /// MD5 of the content, lower- or upper-case hex.
    pub md5_hex: Option<&'a str>,
    /// SHA-256 of the content, lower- or upper-case hex.
    pub sha256_hex: Option<&'a str>,
    /// Size in bytes.
    pub size: Option<u64>,
}

fn agent(size: Option<u64>) -> ureq::Agent {
    let body_seconds = size.map_or(600, |s| (s / SLOWEST_BYTES_PER_SECOND).max(600));
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_recv_body(Some(Duration::from_secs(body_seconds)))
        .build()
        .into()
}

/// For the hub's metadata: its answer for large files is a redirect to a CDN, and the
/// headers that identify the file (X-Repo-Commit, X-Linked-Etag, X-Linked-Size) are on that
/// redirect, not on the CDN's reply.
fn metadata_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn with_token(
    req: ureq::RequestBuilder<ureq::typestate::WithoutBody>,
) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
    match std::env::var("HF_TOKEN") {
        Ok(token) if !token.is_empty() => req.header("Authorization", format!("Bearer {token}")),
        _ => req,
    }
}

fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

/// Downloads `url` to `dest`, resuming a previous partial download, and checks the MD5 when
/// one is given. Returns early if `dest` already exists.
pub fn fetch(url: &str, dest: &Path, md5_hex: Option<&str>) -> Result<()> {
    fetch_expected(
        url,
        dest,
        Expected {
            md5_hex,
            ..Expected::default()
        },
    )
}

/// [`fetch`] with every check the caller knows: size, MD5 and SHA-256. A download that fails
/// a check is deleted, so the next run starts clean instead of resuming a bad file.
pub fn fetch_expected(url: &str, dest: &Path, expected: Expected<'_>) -> Result<()> {
    if dest.is_file() {
        return Ok(());
    }
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).at(dir)?;
    }
    let part = part_path(dest);
    let agent = agent(expected.size);
    let mut last_error = String::new();
    for _ in 0..ATTEMPTS {
        let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        if expected.size.is_some_and(|size| have > size) {
            std::fs::remove_file(&part).at(&part)?;
            continue;
        }
        let mut req = with_token(agent.get(url));
        if have > 0 {
            req = req.header("Range", format!("bytes={have}-"));
        }
        let mut response = match req.call() {
            Ok(r) => r,
            Err(e) => {
                last_error = e.to_string();
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        };
        let status = response.status().as_u16();
        let append = match status {
            200 => false,
            206 => true,
            // Nothing left to send: the partial file is whole, which the checks below confirm.
            416 if have > 0 => {
                last_error.clear();
                break;
            }
            404 => return Err(DownloadError::Missing(format!("{url}: 404 not found"))),
            other => {
                return Err(http(url, format!("HTTP status {other}")));
            }
        };
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&part)
            .at(&part)?;
        let mut reader = response.body_mut().as_reader();
        match std::io::copy(&mut reader, &mut file) {
            Ok(_) => {
                file.flush().at(&part)?;
                last_error.clear();
                break;
            }
            Err(e) => {
                // Keep what arrived; the next attempt asks for the rest.
                last_error = format!("connection dropped: {e}");
                file.flush().at(&part)?;
            }
        }
    }
    if !last_error.is_empty() {
        return Err(DownloadError::GaveUp {
            url: url.to_string(),
            attempts: ATTEMPTS,
            last_error,
            part,
        });
    }
    let reject = |what: String| -> Result<()> {
        std::fs::remove_file(&part).at(&part)?;
        Err(DownloadError::Rejected {
            url: url.to_string(),
            message: what,
        })
    };
    if let Some(size) = expected.size {
        let got = std::fs::metadata(&part).at(&part)?.len();
        if got != size {
            return reject(format!("received {got} bytes, expected {size}"));
        }
    }
    if let Some(want) = expected.md5_hex {
        let got = file_digest::<Md5>(&part)?;
        if !got.eq_ignore_ascii_case(want) {
            return reject(format!("MD5 {got} does not match the expected {want}"));
        }
    }
    if let Some(want) = expected.sha256_hex {
        let got = file_digest::<Sha256>(&part)?;
        if !got.eq_ignore_ascii_case(want) {
            return reject(format!("SHA-256 {got} does not match the expected {want}"));
        }
    }
    std::fs::rename(&part, dest).at(dest)?;
    Ok(())
}

fn file_digest<D: Digest>(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).at(path)?;
    let mut hasher = D::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).at(path)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The hub endpoint: `$HF_ENDPOINT`, or huggingface.co.
pub(crate) fn hub_endpoint() -> String {
    std::env::var("HF_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "https://huggingface.co".to_string())
        .trim_end_matches('/')
        .to_string()
}

/// Fetches a CLIP checkpoint's files into the hub cache at `cache`
/// (`models--ORG--NAME/{blobs,snapshots,refs}`, the layout `huggingface_hub` uses, so the
/// files are shared with Python tools) and returns them.
pub fn fetch_hub_checkpoint(
    endpoint: &str,
    repo_id: &str,
    revision: &str,
    cache: &Path,
) -> Result<ClipFiles> {
    let repo = cache.join(repo_folder(repo_id));
    let agent = metadata_agent();
    let mut commit: Option<String> = None;
    for (file, required) in REQUIRED
        .iter()
        .map(|f| (*f, true))
        .chain([(PREPROCESSOR, false)])
    {
        let url = format!("{endpoint}/{repo_id}/resolve/{revision}/{file}");
        let Some(meta) = file_metadata(&agent, endpoint, &url, required)? else {
            continue;
        };
        let commit = commit.get_or_insert(meta.commit).clone();
        let blob = repo.join("blobs").join(&meta.etag);
        // LFS files are named by their SHA-256 (64 hex digits), which the download must match;
        // small git files carry a git hash, which only names the blob.
        let sha256 = (meta.etag.len() == 64 && meta.etag.bytes().all(|b| b.is_ascii_hexdigit()))
            .then_some(meta.etag.as_str());
        fetch_expected(
            &url,
            &blob,
            Expected {
                md5_hex: None,
                sha256_hex: sha256,
                size: meta.size,
            },
        )?;
        let link = repo.join("snapshots").join(&commit).join(file);
        if !link.exists() {
            let dir = link.parent().expect("snapshot folder");
            std::fs::create_dir_all(dir).at(dir)?;
            link_or_copy(&blob, &link)?;
        }
    }
    let commit = commit.expect("at least one required file");
    let refs = repo.join("refs");
    std::fs::create_dir_all(&refs).at(&refs)?;
    crate::artifact::write_atomic(&refs.join(revision), commit.as_bytes())?;
    ClipFiles::in_dir(repo_id, &repo.join("snapshots").join(&commit)).map_err(|missing| {
        DownloadError::Missing(format!(
            "{repo_id}: still missing {} after download",
            missing.join(", ")
        ))
    })
}

/// What the hub says about one file of a revision.
struct FileMetadata {
    commit: String,
    etag: String,
    size: Option<u64>,
}

/// HEAD without following redirects, as `huggingface_hub` does: relative redirects (a renamed
/// repo) are followed on the hub, while the redirect of a large file to its CDN is where the
/// file's commit, ETag and size are read. `None`: an optional file that does not exist.
fn file_metadata(
    agent: &ureq::Agent,
    endpoint: &str,
    url: &str,
    required: bool,
) -> Result<Option<FileMetadata>> {
    let mut current = url.to_string();
    for _ in 0..5 {
        let head = with_token(agent.head(&current))
            .call()
            .map_err(|e| http(&current, e.to_string()))?;
        let header = |name: &str| {
            head.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim_start_matches("W/").trim_matches('"').to_string())
        };
        let status = head.status().as_u16();
        match status {
            200 => {}
            301 | 302 | 303 | 307 | 308 if header("x-repo-commit").is_none() => {
                let location = header("location")
                    .ok_or_else(|| http(&current, format!("HTTP {status} without a Location")))?;
                current = if location.starts_with('/') {
                    format!("{endpoint}{location}")
                } else {
                    location
                };
                continue;
            }
            301 | 302 | 303 | 307 | 308 => {}
            404 if !required => return Ok(None),
            404 => {
                return Err(DownloadError::Missing(format!(
                    "{url}: 404 not found (the repo has no such file at that revision)"
                )))
            }
            401 | 403 => {
                return Err(DownloadError::Missing(format!(
                    "{url}: access denied (set HF_TOKEN for gated or private repos)"
                )))
            }
            other => return Err(http(url, format!("HTTP status {other}"))),
        }
        let commit = header("x-repo-commit")
            .ok_or_else(|| http(url, "the server sent no X-Repo-Commit header"))?;
        let etag = header("x-linked-etag")
            .or_else(|| header("etag"))
            .ok_or_else(|| http(url, "the server sent no ETag"))?;
        let size = header("x-linked-size")
            .or_else(|| (status == 200).then(|| header("content-length")).flatten())
            .and_then(|v| v.parse().ok());
        return Ok(Some(FileMetadata { commit, etag, size }));
    }
    Err(http(url, "more than 5 redirects"))
}

#[cfg(unix)]
fn link_or_copy(blob: &Path, link: &Path) -> Result<()> {
    // Relative, as huggingface_hub makes them, so the cache can move.
    let target = Path::new("../..")
        .join("blobs")
        .join(blob.file_name().expect("blob name"));
    Ok(std::os::unix::fs::symlink(&target, link).at(link)?)
}

#[cfg(not(unix))]
fn link_or_copy(blob: &Path, link: &Path) -> Result<()> {
    Ok(std::fs::copy(blob, link).map(|_| ()).at(link)?)
}

/// Resolves `spec` locally, and when it is a repo id that is not cached, fetches it into the
/// first hub cache folder (unless `offline`).
pub fn resolve_or_fetch(spec: &str, offline: bool) -> Result<ClipFiles> {
    match ClipFiles::resolve(spec) {
        Ok(files) => Ok(files),
        Err(e) if offline || !crate::clip::checkpoint::looks_like_repo_id(spec) => Err(e.into()),
        Err(_) => {
            let cache = crate::clip::checkpoint::hub_caches()
                .into_iter()
                .next()
                .ok_or_else(|| {
                    DownloadError::Missing("no Hugging Face cache folder: set HF_HOME".into())
                })?;
            fetch_hub_checkpoint(&hub_endpoint(), spec, "main", &cache)
        }
    }
}
