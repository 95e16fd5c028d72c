#!/usr/bin/env bash
# Builds the fixture run's report so every CI run shows the figures:
# ci-report/{report.md,report.html,figures/*.png,*.svg,table.*}.
# The fixture CLIP has random weights; the report says so in a banner.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-ci-report}
# The binary `cargo test --features download` built for the CLI tests (a `cargo build` would
# rebuild every dependency under the dev profile).
S=target/debug/softtext
[ -x "$S" ] || cargo build --quiet --features download
rm -rf "$out"
$S encode-images --quiet --clip fixtures/clip-tiny --data folder:fixtures/cifar10-sample \
  --split test --out "$out/images.safetensors"
# 16-shot CoOp on the look-like soft texts, so the report has its fine-tuned rows and figures.
$S encode-images --quiet --clip fixtures/clip-tiny --data folder:fixtures/cifar10-sample \
  --split train --out "$out/train-images.safetensors"
$S finetune --quiet --images "$out/train-images.safetensors" --method coop \
  --ctx-init "a photo of a" --prompt look-like --aux fixtures/finetune/train-aux.json \
  --shots 16 --epochs 5 --lr 0.01 --out "$out/finetune" > /dev/null
$S eval --quiet --images "$out/images.safetensors" --finetuned "$out/finetune" \
  --aux fixtures/aux/cifar10-sample-test-aux.json --out "$out" > /dev/null
$S umap --quiet --images "$out/images.safetensors" --eval "$out"
$S report --eval "$out"
test -s "$out/report.html" && test -s "$out/figures/umap-hard.png" && test -s "$out/figures/per-class.png"
test -s "$out/figures/umap-coop+look-like.png" && test -s "$out/figures/subject-share-finetuned.png"
grep -q "## Fine-tuned text side (coop)" "$out/report.md"
echo "report: $out/report.html ($(ls "$out/figures" | wc -l) figure files)"
