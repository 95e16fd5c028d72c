//! The `download` feature against a local HTTP server on 127.0.0.1 started by each test:
//! success, resume after a dropped connection, checksum mismatch, 404, and a hub checkpoint
//! laid out in the standard Hugging Face cache. Never touches the internet.
#![cfg(feature = "download")]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use softtext::download::{fetch, fetch_hub_checkpoint};

/// How the server answers one path.
#[derive(Clone)]
struct Route {
    body: Vec<u8>,
    headers: Vec<(String, String)>,
    /// On the first GET, send only this many body bytes, then close the connection.
    drop_after: Option<usize>,
    /// Answer `302 Found` with this Location (and the route's headers), as the hub does for
    /// large files it serves from a CDN.
    redirect: Option<String>,
}

struct Server {
    base: String,
    requests: Arc<AtomicUsize>,
}

/// A minimal HTTP/1.1 server: GET and HEAD, `Range: bytes=N-`, 404 for unknown paths.
/// It serves at most `max_requests` connections and then stops, so a test cannot hang it.
fn serve(routes: HashMap<String, Route>, max_requests: usize) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    std::thread::spawn(move || {
        let mut dropped = std::collections::HashSet::new();
        for stream in listener.incoming().take(max_requests) {
            let Ok(stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            handle(stream, &routes, &mut dropped);
        }
    });
    Server { base, requests }
}

fn handle(
    mut stream: TcpStream,
    routes: &HashMap<String, Route>,
    dropped: &mut std::collections::HashSet<String>,
) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or("").to_string(),
    );
    let mut range_start = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("range: bytes=") {
            range_start = v.trim().trim_end_matches('-').parse().unwrap_or(0);
        }
    }
    let Some(route) = routes.get(&path) else {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    if let Some(location) = &route.redirect {
        let mut head = format!(
            "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n"
        );
        for (k, v) in &route.headers {
            head += &format!("{k}: {v}\r\n");
        }
        head += "\r\n";
        let _ = stream.write_all(head.as_bytes());
        return;
    }
    let body = &route.body[range_start.min(route.body.len())..];
    let status = if range_start > 0 {
        "206 Partial Content"
    } else {
        "200 OK"
    };
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if range_start > 0 {
        head += &format!(
            "Content-Range: bytes {range_start}-{}/{}\r\n",
            route.body.len() - 1,
            route.body.len()
        );
    }
    for (k, v) in &route.headers {
        head += &format!("{k}: {v}\r\n");
    }
    head += "\r\n";
    let _ = stream.write_all(head.as_bytes());
    if method == "HEAD" {
        return;
    }
    match route.drop_after {
        Some(n) if !dropped.contains(&path) => {
            dropped.insert(path);
            let _ = stream.write_all(&body[..n.min(body.len())]);
            let _ = stream.flush();
            // Closing now leaves the client short of Content-Length: a dropped connection.
        }
        _ => {
            let _ = stream.write_all(body);
        }
    }
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn route(body: Vec<u8>) -> Route {
    Route {
        body,
        headers: Vec::new(),
        drop_after: None,
        redirect: None,
    }
}

#[test]
fn downloads_and_verifies() {
    let body = payload(200_000);
    let server = serve(
        HashMap::from([("/f.tar.gz".to_string(), route(body.clone()))]),
        4,
    );
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("f.tar.gz");
    fetch(
        &format!("{}/f.tar.gz", server.base),
        &dest,
        Some(&md5_hex(&body)),
    )
    .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert!(!dir.path().join("f.tar.gz.part").exists());
    // Present already: no request at all.
    let before = server.requests.load(Ordering::SeqCst);
    fetch(&format!("{}/f.tar.gz", server.base), &dest, None).unwrap();
    assert_eq!(server.requests.load(Ordering::SeqCst), before);
}

#[test]
fn resumes_after_a_dropped_connection() {
    let body = payload(300_000);
    let mut r = route(body.clone());
    r.drop_after = Some(120_000);
    let server = serve(HashMap::from([("/big".to_string(), r)]), 4);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("big");
    fetch(
        &format!("{}/big", server.base),
        &dest,
        Some(&md5_hex(&body)),
    )
    .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(
        server.requests.load(Ordering::SeqCst),
        2,
        "one drop, one ranged resume"
    );
}

#[test]
fn rejects_a_checksum_mismatch_and_deletes_it() {
    let server = serve(HashMap::from([("/f".to_string(), route(payload(1000)))]), 2);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("f");
    let err = fetch(
        &format!("{}/f", server.base),
        &dest,
        Some("c32a1d4ab5d03f1284b67883e8d87530"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("does not match the expected c32a1d4ab5d03f1284b67883e8d87530"),
        "{err}"
    );
    assert!(!dest.exists() && !dir.path().join("f.part").exists());
}

#[test]
fn reports_404() {
    let server = serve(HashMap::new(), 2);
    let dir = tempfile::tempdir().unwrap();
    let err = fetch(
        &format!("{}/missing.tar.gz", server.base),
        &dir.path().join("x"),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("missing.tar.gz: 404 not found"), "{err}");
}

#[test]
fn fetches_a_hub_checkpoint_into_the_standard_cache() {
    let fixture = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/clip-tiny");
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let mut routes = HashMap::new();
    for file in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "preprocessor_config.json",
    ] {
        let body = std::fs::read(fixture.join(file)).unwrap();
        let mut r = route(body.clone());
        r.headers = vec![
            ("X-Repo-Commit".into(), commit.into()),
            ("ETag".into(), format!("\"{}\"", md5_hex(&body))),
        ];
        if file == "model.safetensors" {
            // Like the hub for an LFS file: a redirect to the CDN carries the commit, the
            // SHA-256 ETag and the size; the CDN's own reply carries none of them.
            r.redirect = Some("/cdn/model-blob".into());
            r.headers = vec![
                ("X-Repo-Commit".into(), commit.into()),
                ("X-Linked-Etag".into(), format!("\"{}\"", sha256_hex(&body))),
                ("X-Linked-Size".into(), body.len().to_string()),
            ];
            let mut cdn = route(body.clone());
            cdn.headers = vec![("ETag".into(), "\"cdn-etag\"".into())];
            cdn.drop_after = Some(body.len() / 3);
            routes.insert("/cdn/model-blob".to_string(), cdn);
        }
        routes.insert(format!("/test-org/clip-tiny/resolve/main/{file}"), r);
    }
    let server = serve(routes, 16);
    let cache = tempfile::tempdir().unwrap();
    let files =
        fetch_hub_checkpoint(&server.base, "test-org/clip-tiny", "main", cache.path()).unwrap();
    let repo = cache.path().join("models--test-org--clip-tiny");
    assert_eq!(files.dir, repo.join("snapshots").join(commit));
    assert_eq!(
        std::fs::read_to_string(repo.join("refs/main")).unwrap(),
        commit
    );
    let weights = std::fs::read(fixture.join("model.safetensors")).unwrap();
    assert_eq!(std::fs::read(&files.weights).unwrap(), weights);
    assert!(
        repo.join("blobs").join(sha256_hex(&weights)).is_file(),
        "the LFS blob is named by its SHA-256, as huggingface_hub names it"
    );
    // The cached checkpoint now resolves offline and loads.
    std::env::set_var("HF_HUB_CACHE", cache.path());
    let resolved = softtext::clip::ClipFiles::resolve("test-org/clip-tiny").unwrap();
    assert_eq!(resolved.dir, files.dir);
    softtext::clip::Clip::load(
        &resolved,
        softtext::clip::DeviceKind::Cpu,
        softtext::clip::Precision::F32,
    )
    .unwrap();
}

#[test]
fn rejects_a_wrong_size_or_sha256_and_deletes_it() {
    let body = payload(5000);
    let server = serve(HashMap::from([("/f".to_string(), route(body.clone()))]), 4);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("f");
    let url = format!("{}/f", server.base);
    let wrong_size = softtext::download::Expected {
        size: Some(4999),
        ..Default::default()
    };
    let err = softtext::download::fetch_expected(&url, &dest, wrong_size)
        .unwrap_err()
        .to_string();
    assert!(err.contains("received 5000 bytes, expected 4999"), "{err}");
    assert!(!dest.exists() && !dir.path().join("f.part").exists());
    let wrong_sha = "0".repeat(64);
    let err = softtext::download::fetch_expected(
        &url,
        &dest,
        softtext::download::Expected {
            sha256_hex: Some(&wrong_sha),
            size: Some(5000),
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("SHA-256") && err.contains("does not match"),
        "{err}"
    );
    assert!(!dest.exists() && !dir.path().join("f.part").exists());
}
