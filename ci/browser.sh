#!/usr/bin/env bash
# The interactive UMAP of report.html in headless Chromium (tests/browser.rs): real mouse
# events over the DevTools protocol must show the tooltips and toggle classes. The test is
# #[ignore]d for a plain `cargo test`; here it runs, and a missing browser fails it.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromium >/dev/null || { apt-get update && apt-get install -y chromium; }
cargo test --features download --test browser -- --ignored
