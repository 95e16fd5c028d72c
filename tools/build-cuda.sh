#!/usr/bin/env bash
# Builds softtext with `--features cuda` on a machine WITHOUT a CUDA toolkit or GPU, using
# NVIDIA's PyPI wheels, then packs the binaries for the GPU machine.
#
#   tools/build-cuda.sh                # -> .device/softtext-cuda.tar.xz (+ .device/*.tar.gz data)
#
# Steps (the recipe verified in the GPU issue):
#   1. a venv (.cuda/venv) with nvcc, nvrtc, cuBLAS, cuRAND, the runtime and headers;
#   2. unversioned .so links in its lib/ so the linker finds -lcublas etc.;
#   3. a libcuda.so.1 link stub: every cu* symbol cudarc's driver bindings name, each
#      returning an error (the real driver is found at run time on the GPU machine);
#   4. cargo build --release --features cuda, plus the bench and test executables;
#   5. strip and xz into .device/, under the device tool's 64 MiB transfer limit.
#
# A cold build takes about 22 minutes on 2 cores (mostly candle-kernels' nvcc work).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cuda_dir=$root/.cuda
venv=$cuda_dir/venv
out=$root/.device
mkdir -p "$cuda_dir" "$out"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q \
  nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88 \
  nvidia-cuda-cccl==13.0.85 nvidia-cuda-runtime==13.0.96 nvidia-cuda-nvrtc==13.0.88 \
  nvidia-cublas==13.0.2.14 nvidia-curand==10.4.0.35
C=$("$venv/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')
echo "CUDA from wheels: $C"

# 2. Unversioned names for the linker.
for lib in cublas cublasLt cudart curand nvrtc; do
  real=$(ls "$C"/lib/lib$lib.so.* 2>/dev/null | sort | head -n 1 || true)
  if [ -z "$real" ]; then echo "missing lib$lib.so.* in $C/lib" >&2; exit 1; fi
  ln -sf "$(basename "$real")" "$C/lib/lib$lib.so"
done

# 3. The driver link stub, generated from the cudarc version in Cargo.lock.
cargo fetch --quiet
cudarc_src=$(cargo metadata --format-version 1 --features cuda 2>/dev/null |
  "$venv/bin/python" -c 'import json,sys,os; m=json.load(sys.stdin); p=[x for x in m["packages"] if x["name"]=="cudarc"][0]; print(os.path.dirname(p["manifest_path"]))')
mkdir -p "$C/lib/stubs"
grep -rhoE "fn cu[A-Za-z0-9_]+" "$cudarc_src/src/driver/sys/" | sed 's/^fn //' | sort -u |
  awk '{ printf "int %s(void) { return 999; }\n", $1 }' > "$cuda_dir/libcuda_stub.c"
echo "libcuda stub: $(wc -l < "$cuda_dir/libcuda_stub.c") symbols"
cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$C/lib/stubs/libcuda.so.1" "$cuda_dir/libcuda_stub.c"
ln -sf libcuda.so.1 "$C/lib/stubs/libcuda.so"

# 4. Build.
export PATH=$C/bin:$PATH CUDA_HOME=$C CUDA_PATH=$C CUDA_ROOT=$C CUDA_COMPUTE_CAP=90
export LIBRARY_PATH=$C/lib:$C/lib/stubs
export CARGO_TARGET_DIR=$root/target/cuda
cargo build --release --features cuda --bin softtext
cargo bench --features cuda --no-run --bench clip_encode 2>&1 | tee "$cuda_dir/bench-build.log"
cargo test --release --features cuda --no-run --test gpu 2>&1 | tee "$cuda_dir/test-build.log"

# 5. Pack.
stage=$(mktemp -d)
cp "$CARGO_TARGET_DIR/release/softtext" "$stage/softtext"
bench=$(grep -oE '\(target/cuda/release/deps/clip_encode-[0-9a-f]+\)' "$cuda_dir/bench-build.log" | tr -d '()' | tail -n 1)
gpu_test=$(grep -oE '\(target/cuda/release/deps/gpu-[0-9a-f]+\)' "$cuda_dir/test-build.log" | tr -d '()' | tail -n 1)
cp "$root/$bench" "$stage/clip_encode"
cp "$root/$gpu_test" "$stage/gpu_test"
strip "$stage"/*
tar -C "$stage" -cJf "$out/softtext-cuda.tar.xz" .
rm -rf "$stage"
cp ../shared/data/cifar10-jpeg-test.tar.gz "$out/" 2>/dev/null || echo "note: ../shared/data not found; copy the test set into .device/ yourself"
cp ../shared/data/cifar10-jpeg-train.tar.gz "$out/" 2>/dev/null || echo "note: no training set copied; the aux runs of tools/run-gpu.sh will be skipped"
du -sh "$out"/*
echo "carry .device (and run tools/run-gpu.sh there)"
