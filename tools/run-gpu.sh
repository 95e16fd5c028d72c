#!/usr/bin/env bash
# The GPU side of tools/build-cuda.sh. On the GPU machine, from the repository root, with
# .device carried:   bash tools/run-gpu.sh
# Writes everything it measures to $OUT (the device tool's result folder) or ./gpu-results.
# Exits 1, after every step has run, when the f16/bf16 CUDA test failed or did not run.
set -uo pipefail
results=${OUT:-gpu-results}
mkdir -p "$results" /tmp/softtext-gpu
tar -C /tmp/softtext-gpu -xJf .device/softtext-cuda.tar.xz
# The GPU machine's CUDA runtime libraries (cuBLAS, cuRAND, NVRTC) and the real driver.
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
B=/tmp/softtext-gpu
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$results/gpu.txt"

# PARTS picks what runs: "encode" (issue 5: agreement, end to end, benches, PyTorch) and
# "aux" (issue 6: classifier training). Both together can exceed one 600 s device call.
PARTS=${PARTS:-encode aux}
: > "$results/log.txt"
# Steps whose failure makes the script's exit status 1; every step still runs.
failed=()
started=$(date +%s)
stamp() { echo "== [$(( $(date +%s) - started )) s] $*" | tee -a "$results/log.txt"; }
if [[ " $PARTS " == *" encode "* ]]; then
# ViT-L/14 shapes for the agreement test and the end-to-end run: no weights can be fetched on
# the GPU machine, so a random checkpoint is written there (its PyTorch makes it in seconds;
# byte-identical to the parity checkpoint of the same seed).
if [ -z "${SOFTTEXT_GPU_CLIP:-}" ] && python3 -c "import torch, transformers" 2>/dev/null; then
  stamp "random-weight ViT-L/14 checkpoint"
  timeout 120 python3 tools/make_fixtures.py --size vit-l-14 --checkpoint-only --out /tmp/softtext-l14 2>&1 \
    | tail -n 2 | tee -a "$results/log.txt"
  [ -f /tmp/softtext-l14/clip-vit-l-14-random/model.safetensors ] \
    && export SOFTTEXT_GPU_CLIP=/tmp/softtext-l14/clip-vit-l-14-random
fi
echo "checkpoint: ${SOFTTEXT_GPU_CLIP:-fixtures/clip-tiny}" | tee -a "$results/log.txt"

stamp "f16/bf16 on CUDA vs f32 on the CPU"
# The test is #[ignore]d, since a plain `cargo test` has no GPU: --ignored runs it, --exact
# runs it alone, and without a usable GPU it fails with the device error. libtest reports
# success when a filter matches no test, so the script also wants its "1 passed" line.
SOFTTEXT_REQUIRE_GPU=1 timeout 120 $B/gpu_test half_precision_cuda_matches_f32_cpu --exact --ignored \
  --nocapture 2>&1 | tee /tmp/softtext-gpu/gpu_test.txt | tee -a "$results/log.txt"
gpu_status=${PIPESTATUS[0]}
if [ "$gpu_status" -ne 0 ] || ! grep -q "^test result: ok\. 1 passed" /tmp/softtext-gpu/gpu_test.txt; then
  failed+=("gpu_test half_precision_cuda_matches_f32_cpu (exit $gpu_status)")
fi

stamp "end-to-end encode-images, 10,000 CIFAR-10 test images"
for dtype in f16 bf16; do
  timeout 120 /usr/bin/time -v $B/softtext encode-images --device cuda --dtype $dtype --batch-size 256 \
    --clip "${SOFTTEXT_GPU_CLIP:-fixtures/clip-tiny}" --data folder:.device/cifar10-jpeg-test.tar.gz \
    --split test --out "/tmp/softtext-gpu/test-$dtype.safetensors" --force 2>&1 | tee -a "$results/log.txt"
done

stamp "criterion: ViT-L/14 batch encoding"
# Short measurements (2 s each) so every bench fits the device call; 10 samples still give
# Criterion's interval.
SOFTTEXT_BENCH_QUICK=1 timeout 200 $B/clip_encode --bench --noplot 2>&1 | tee -a "$results/bench.txt"

if python3 -c "import torch, transformers" 2>/dev/null; then
  stamp "PyTorch side by side"
  timeout 150 python3 tools/torch_encode_bench.py 2>&1 | tee -a "$results/torch.txt"
fi
fi

# Issue 6: the auxiliary classifier on the GPU. Each run is bounded so the script fits one
# device call.
if [[ " $PARTS " == *" aux "* ]] && [ -f .device/cifar10-jpeg-train.tar.gz ]; then
  stamp "aux: ResNet50 training throughput, batch 64 (one epoch of 12,800 images)"
  timeout 150 $B/softtext aux train --model resnet50 --device cuda --batch-size 64 --epochs 1 \
    --limit-train 12800 --eval-every 1 --limit-test 2000 \
    --data folder:.device/cifar10-jpeg-train.tar.gz --test-data folder:.device/cifar10-jpeg-test.tar.gz \
    --out /tmp/aux-resnet50 2>&1 | tee -a "$results/log.txt"
  stamp "aux: fast network, configs/quick.toml recipe, to convergence or the time limit"
  timeout 240 $B/softtext aux train --model fast --device cuda --batch-size 512 --lr 0.2 --nesterov \
    --epochs 24 --eval-every 4 --eval-batch-size 1000 \
    --data folder:.device/cifar10-jpeg-train.tar.gz --test-data folder:.device/cifar10-jpeg-test.tar.gz \
    --out /tmp/aux-fast 2>&1 | tee -a "$results/log.txt"
  # The logs and curves come back; the checkpoints (94 MB for ResNet50) stay behind.
  for run in aux-resnet50 aux-fast; do
    mkdir -p "$results/$run" && cp /tmp/$run/log.csv /tmp/$run/curve.* "$results/$run/" 2>/dev/null
  done
fi
stamp "done"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}" | tee -a "$results/log.txt"
  exit 1
fi
