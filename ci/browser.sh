#!/usr/bin/env bash
# The interactive UMAP of report.html in headless Chromium (tests/browser.rs): real mouse
# events over the DevTools protocol must show the tooltips and toggle classes. The test is
# #[ignore]d for a plain `cargo test`; here it runs, and a missing browser fails it.
set -euo pipefail
cd "$(dirname "$0")/.."
# Any Chromium or Chrome the test can find will do (GitHub's runners ship google-chrome);
# otherwise install Debian's chromium, with sudo when not root.
have_browser() {
  [ -n "${SOFTTEXT_CHROMIUM:-}" ] && return 0
  for name in chromium chromium-browser google-chrome google-chrome-stable; do
    command -v "$name" >/dev/null && return 0
  done
  return 1
}
if ! have_browser; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update && $sudo apt-get install -y chromium
fi
cargo test --features download --test browser -- --ignored
