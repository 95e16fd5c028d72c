//! The interactive UMAP of `report.html` in a real browser: the fixture report is built with
//! the `softtext` binary (encode-images, eval, umap, report), loaded from `file://` into
//! headless Chromium, and driven over the Chrome DevTools Protocol (on a pipe, so no
//! WebSocket client is needed) with real input events: a mouse move onto a star must show
//! its text in the tooltip, a move onto a circle its image id and class, and a click on a
//! legend entry must hide that class's circles and stars.
//!
//! Needs Chromium (`apt-get install -y chromium`; or set `SOFTTEXT_CHROMIUM` to a
//! Chrome/Chromium binary), so it is ignored by default; CI runs it with
//! `cargo test --features download --test browser -- --ignored` (ci/browser.sh), where a
//! missing browser fails the test.
#![cfg(unix)]

mod common;
use common::root;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn softtext(args: &[&str]) {
    let out = common::softtext_command()
        .args(args)
        .arg("--quiet")
        .current_dir(root())
        .output()
        .expect("run softtext");
    assert!(
        out.status.success(),
        "softtext {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The fixture report, as ci/report.sh builds it, in `out`.
fn fixture_report(out: &Path) {
    let images = out.join("images.safetensors");
    let (out_s, images_s) = (out.to_str().unwrap(), images.to_str().unwrap());
    softtext(&[
        "encode-images",
        "--clip",
        "fixtures/clip-tiny",
        "--data",
        "folder:fixtures/cifar10-sample",
        "--split",
        "test",
        "--out",
        images_s,
    ]);
    softtext(&[
        "eval",
        "--images",
        images_s,
        "--aux",
        "fixtures/aux/cifar10-sample-test-aux.json",
        "--out",
        out_s,
    ]);
    softtext(&["umap", "--images", images_s, "--eval", out_s]);
    softtext(&["report", "--eval", out_s]);
}

/// The Chromium to run: `SOFTTEXT_CHROMIUM`, else the first of the usual names on PATH.
fn find_browser() -> PathBuf {
    if let Some(p) = std::env::var_os("SOFTTEXT_CHROMIUM") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "SOFTTEXT_CHROMIUM={} is not a file",
            p.display()
        );
        return p;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "no Chromium found (tried chromium, chromium-browser, google-chrome on PATH and \
         SOFTTEXT_CHROMIUM): install it with `apt-get install -y chromium`"
    );
}

/// Each CDP call waits at most this long for its answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Headless Chromium driven over `--remote-debugging-pipe` (commands on its fd 3, answers
/// on its fd 4, each message JSON ended by a NUL byte), attached to one page.
struct Browser {
    child: Child,
    commands: File,
    messages: Receiver<Value>,
    next_id: u64,
    session: Option<String>,
    /// Every event seen so far (method, params), for checks on exceptions and dialogs.
    events: Vec<(String, Value)>,
    _profile: tempfile::TempDir,
}

fn pipe() -> (RawFd, RawFd) {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid two-element array for pipe2 to fill.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    (fds[0], fds[1])
}

impl Browser {
    fn launch(binary: &Path) -> Self {
        let profile = tempfile::tempdir().unwrap();
        let (cmd_read, cmd_write) = pipe();
        let (msg_read, msg_write) = pipe();
        let mut command = Command::new(binary);
        command
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-sync",
                "--mute-audio",
                "--window-size=1280,1000",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that the renderer and helper processes it starts
            // are ended with it.
            .process_group(0);
        // SAFETY: only async-signal-safe calls (fcntl, dup2, close) between fork and exec.
        unsafe {
            command.pre_exec(move || {
                // Move both ends above 4 first, so neither dup2 below overwrites the other;
                // dup2 clears close-on-exec on the copies.
                let a = libc::fcntl(cmd_read, libc::F_DUPFD_CLOEXEC, 10);
                let b = libc::fcntl(msg_write, libc::F_DUPFD_CLOEXEC, 10);
                if a < 0 || b < 0 || libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        // SAFETY: these descriptors came from pipe2 above and are owned here alone.
        let (commands, mut answers) = unsafe {
            libc::close(cmd_read);
            libc::close(msg_write);
            (File::from_raw_fd(cmd_write), File::from_raw_fd(msg_read))
        };
        let (tx, messages) = channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            loop {
                let n = match answers.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.iter().position(|&b| b == 0) {
                    let msg: Vec<u8> = buf.drain(..=end).collect();
                    let Ok(value) = serde_json::from_slice::<Value>(&msg[..end]) else {
                        continue;
                    };
                    if tx.send(value).is_err() {
                        return;
                    }
                }
            }
        });
        Browser {
            child,
            commands,
            messages,
            next_id: 0,
            session: None,
            events: Vec::new(),
            _profile: profile,
        }
    }

    /// Sends one command (to the attached page, once attached) and returns its result;
    /// panics on a protocol error or after CALL_TIMEOUT.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.commands
            .write_all(&bytes)
            .unwrap_or_else(|e| panic!("send {method} to the browser: {e}"));
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let value = match self.messages.recv_timeout(left) {
                Ok(v) => v,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no answer to {method} within {CALL_TIMEOUT:?}")
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the browser closed its pipe while answering {method}")
                }
            };
            if value["id"] == json!(id) {
                if let Some(err) = value.get("error") {
                    panic!("{method} failed: {err}");
                }
                return value["result"].clone();
            }
            if let Some(event) = value["method"].as_str() {
                self.events
                    .push((event.to_string(), value["params"].clone()));
            }
        }
    }

    /// Evaluates a JavaScript expression in the page and returns its value (JSON).
    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
        );
        if let Some(ex) = r.get("exceptionDetails") {
            panic!("{expression}\nthrew: {ex}");
        }
        r["result"]["value"].clone()
    }

    /// Polls `expression` until it is `true`, for at most `timeout`.
    fn wait_until(&mut self, expression: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.eval(expression) != json!(true) {
            assert!(
                Instant::now() < deadline,
                "still not true after {timeout:?}: {expression}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn mouse(&mut self, kind: &str, x: f64, y: f64) {
        let mut params = json!({ "type": kind, "x": x, "y": y });
        if kind != "mouseMoved" {
            params["button"] = json!("left");
            params["clickCount"] = json!(1);
        }
        self.call("Input.dispatchMouseEvent", params);
    }

    fn click(&mut self, x: f64, y: f64) {
        self.mouse("mouseMoved", x, y);
        self.mouse("mousePressed", x, y);
        self.mouse("mouseReleased", x, y);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole process group this test started; then reap the main process.
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: signalling a process group id we created.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// A text with every character that matters to HTML, SVG attributes and JS strings.
const HOSTILE: &str = "<script>alert(\"x\")</script> & <b>bold</b> 'q' \\ </svg>";

/// Replaces the text of the star drawn last (on top of every other point: the last text row
/// of the highest class that has texts) with [`HOSTILE`]; returns that class.
fn plant_hostile_text(csv: &Path) -> usize {
    let text = std::fs::read_to_string(csv).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert_eq!(lines[0], "kind,id,class,x,y");
    // (line index, class) of each text row; class, x and y never hold a comma.
    let rows: Vec<(usize, usize)> = lines
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| l.starts_with("text,"))
        .map(|(i, l)| {
            let class = l.rsplit(',').nth(2).unwrap().parse().unwrap();
            (i, class)
        })
        .collect();
    let top = rows.iter().map(|r| r.1).max().expect("the CSV has texts");
    let line = rows.iter().rev().find(|r| r.1 == top).unwrap().0;
    let tail: Vec<&str> = lines[line].rsplitn(4, ',').take(3).collect();
    lines[line] = format!(
        "text,\"{}\",{},{},{}",
        HOSTILE.replace('"', "\"\""),
        tail[2],
        tail[1],
        tail[0]
    );
    std::fs::write(csv, lines.join("\n") + "\n").unwrap();
    top
}

/// Screen centre, after scrolling it into view, of the element `element_js` evaluates to.
fn centre(b: &mut Browser, element_js: &str) -> (f64, f64) {
    let v = b.eval(&format!(
        "(() => {{ const e = {element_js}; e.scrollIntoView({{block: 'center', inline: 'center'}});
           const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; }})()"
    ));
    (v[0].as_f64().unwrap(), v[1].as_f64().unwrap())
}

const FIG: &str = "[...document.querySelectorAll('figure.iu')].find(f => f.dataset.set === 'hard')";

#[test]
#[ignore = "needs chromium: apt-get install -y chromium (CI runs it: ci/browser.sh)"]
fn interactive_umap_tooltips_and_legend_in_chromium() {
    let started = Instant::now();
    let binary = find_browser();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    fixture_report(out);
    let hostile_class = plant_hostile_text(&out.join("umap/umap-hard.csv"));
    softtext(&["report", "--eval", out.to_str().unwrap()]);
    let html_path = out.join("report.html");
    let classes: Vec<String> =
        serde_json::from_str::<Value>(&std::fs::read_to_string(out.join("table.json")).unwrap())
            .unwrap()["classes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
    let csv = std::fs::read_to_string(out.join("umap/umap-hard.csv")).unwrap();
    eprintln!(
        "fixture report built in {:.1}s; report.html {} bytes",
        started.elapsed().as_secs_f64(),
        std::fs::metadata(&html_path).unwrap().len()
    );

    let mut b = Browser::launch(&binary);
    let targets = b.call("Target.getTargets", json!({}));
    let page = targets["targetInfos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "page")
        .expect("a page target")["targetId"]
        .clone();
    let attached = b.call(
        "Target.attachToTarget",
        json!({ "targetId": page, "flatten": true }),
    );
    b.session = Some(attached["sessionId"].as_str().unwrap().to_string());
    b.call("Runtime.enable", json!({}));
    b.call("Page.enable", json!({}));
    let url = format!("file://{}", html_path.canonicalize().unwrap().display());
    b.call("Page.navigate", json!({ "url": url }));
    b.wait_until(
        "document.readyState === 'complete' && location.protocol === 'file:' && !!document.querySelector('figure.iu')",
        Duration::from_secs(30),
    );

    // One interactive figure per embedded UMAP figure; one legend entry per class.
    let sets = b.eval("[...document.querySelectorAll('figure.iu')].map(f => f.dataset.set)");
    assert!(sets.as_array().unwrap().contains(&json!("hard")), "{sets}");
    let legend = b.eval(&format!(
        "[...{FIG}.querySelectorAll('.iu-legend button[data-k] span')].map(s => s.textContent)"
    ));
    assert_eq!(legend, json!(classes));
    let images_in_csv = csv.lines().filter(|l| l.starts_with("image,")).count();
    let circles = b.eval(&format!("{FIG}.querySelectorAll('circle').length"));
    assert_eq!(circles, json!(images_in_csv));

    // The star on top: its attribute carries the hostile text unchanged.
    let star = format!("[...{FIG}.querySelectorAll('use[data-t]')].at(-1)");
    assert_eq!(
        b.eval(&format!("{star}.getAttribute('data-t')")),
        json!(HOSTILE)
    );
    assert_eq!(
        b.eval(&format!("{star}.parentNode.getAttribute('data-k')")),
        json!(hostile_class.to_string())
    );
    let (x, y) = centre(&mut b, &star);
    assert_eq!(
        b.eval(&format!("document.elementFromPoint({x}, {y}) === {star}")),
        json!(true),
        "the star's centre is hit-testable"
    );
    let tip = format!("{FIG}.querySelector('.iu-tip')");
    let tip_state = format!(
        "(() => {{ const t = {tip}; return [t.hidden, t.querySelector('.iu-tt').textContent, t.querySelector('.iu-tc').textContent]; }})()"
    );
    assert_eq!(b.eval(&format!("{tip}.hidden")), json!(true));
    b.mouse("mouseMoved", x, y);
    b.wait_until(&format!("!{tip}.hidden"), Duration::from_secs(5));
    assert_eq!(
        b.eval(&tip_state),
        json!([
            false,
            HOSTILE,
            format!("text \u{b7} class {}", classes[hostile_class])
        ])
    );

    // A circle that no star covers: its id and class.
    let circle_info = b.eval(&format!(
        "(() => {{ const cs = [...{FIG}.querySelectorAll('circle')].reverse();
           for (const c of cs) {{ c.scrollIntoView({{block: 'center', inline: 'center'}});
             const r = c.getBoundingClientRect(); const x = r.left + r.width / 2, y = r.top + r.height / 2;
             if (document.elementFromPoint(x, y) === c) return [x, y, c.getAttribute('data-t')]; }}
           return null; }})()"
    ));
    assert!(!circle_info.is_null(), "every circle is covered");
    let id = circle_info[2].as_str().unwrap().to_string();
    let row = csv
        .lines()
        .find(|l| l.starts_with(&format!("image,{id},")))
        .unwrap_or_else(|| panic!("image {id:?} is not in the CSV"));
    let class: usize = row.split(',').nth(2).unwrap().parse().unwrap();
    b.mouse(
        "mouseMoved",
        circle_info[0].as_f64().unwrap(),
        circle_info[1].as_f64().unwrap(),
    );
    b.wait_until(
        &format!(
            "{tip}.querySelector('.iu-tt').textContent === {}",
            json!(id)
        ),
        Duration::from_secs(5),
    );
    assert_eq!(
        b.eval(&tip_state),
        json!([false, id, format!("image \u{b7} class {}", classes[class])])
    );

    // Click the hostile star's class in the legend: its circles and stars disappear.
    let entry = format!("{FIG}.querySelector('.iu-legend button[data-k=\"{hostile_class}\"]')");
    // Rendered: it has a layout box. (checkVisibility() says true for SVG shapes inside a
    // display:none group in Chromium 156, so it cannot tell.)
    let visible = |b: &mut Browser, k: usize| -> Value {
        b.eval(&format!(
            "(() => {{ const rendered = e => {{ const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; }};
               const all = [...{FIG}.querySelectorAll('g[data-k=\"{k}\"] > *')];
               return [all.length, all.filter(rendered).length]; }})()"
        ))
    };
    let other = (hostile_class + 1) % classes.len();
    let before = visible(&mut b, hostile_class);
    let n = before[0].as_u64().unwrap();
    assert!(n > 1 && before[1] == json!(n), "{before}");
    let others_before = visible(&mut b, other);
    let (ex, ey) = centre(&mut b, &entry);
    b.click(ex, ey);
    b.wait_until(
        &format!("{entry}.getAttribute('aria-pressed') === 'false'"),
        Duration::from_secs(5),
    );
    assert_eq!(visible(&mut b, hostile_class), json!([n, 0]));
    assert_eq!(visible(&mut b, other), others_before, "other classes stay");
    assert_eq!(
        b.eval(&format!(
            "{entry}.classList.contains('off') && getComputedStyle({entry}).textDecorationLine"
        )),
        json!("line-through"),
        "the legend marks the class as hidden"
    );
    // Hovering where the hidden star was no longer shows its text.
    let (sx, sy) = {
        // The star's position is read from the SVG geometry, which stays when hidden.
        let v = b.eval(&format!(
            "(() => {{ const s = {star}; const svg = s.ownerSVGElement; const p = svg.createSVGPoint();
               p.x = +s.getAttribute('x'); p.y = +s.getAttribute('y');
               const q = p.matrixTransform(svg.getScreenCTM()); return [q.x, q.y]; }})()"
        ));
        (v[0].as_f64().unwrap(), v[1].as_f64().unwrap())
    };
    b.mouse("mouseMoved", sx, sy);
    assert_ne!(
        b.eval(&tip_state),
        json!([
            false,
            HOSTILE,
            format!("text \u{b7} class {}", classes[hostile_class])
        ]),
        "a hidden star shows no tooltip"
    );
    // A second click shows the class again.
    let (ex, ey) = centre(&mut b, &entry);
    b.click(ex, ey);
    b.wait_until(
        &format!("{entry}.getAttribute('aria-pressed') === 'true'"),
        Duration::from_secs(5),
    );
    assert_eq!(visible(&mut b, hostile_class), json!([n, n]));

    // No script error and no dialog (the hostile text's alert) on the way.
    let bad: Vec<&(String, Value)> = b
        .events
        .iter()
        .filter(|(m, _)| m == "Runtime.exceptionThrown" || m == "Page.javascriptDialogOpening")
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
    drop(b);
    eprintln!(
        "browser test done in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}
