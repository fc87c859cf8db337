#!/usr/bin/env bash
# The GPU step-time check of issue 6 (bench/train_gpu.py) on a lent device machine.
#
#   scripts/device-bench.sh fetch   # here, once: wheels the device image lacks, into .whl/
#   scripts/device-bench.sh run     # there, with .whl carried: install them, run the bench
#
# The device image (Python 3.12, torch, transformers 5.17, accelerate, peft, tokenizers, ...)
# lacks trl, datasets, rapidfuzz and pydantic; transformers is brought at the version this
# project pins. Versions come from requirements.lock. Results land in $OUT (or ./reports).
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=(trl datasets dill multiprocess RapidFuzz pydantic pydantic_core annotated-types
        typing-inspection transformers huggingface_hub hf-xet httpx2 httpcore2 truststore sniffio)

pin() { grep -i -E "^$1==" requirements.lock | head -1; }

case "${1:-}" in
fetch)
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    rm -rf .whl && mkdir -p .whl
    for name in "${WHEELS[@]}"; do
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
            --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
            --platform manylinux2014_x86_64 --platform any -d .whl "$(pin "$name")"
    done
    du -sh .whl
    ;;
run)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
    out="${OUT:-reports}" && mkdir -p "$out"
    # Needs of the carried wheels that the image should meet (click>=8.4.2, regex>=2025.10.22,
    # pyarrow>=24, fsspec<=2026.9.0, tokenizers<0.24): shown, so a failed import is explained.
    python3 -m pip show click regex pyarrow fsspec tokenizers typer 2>/dev/null \
        | grep -E '^(Name|Version):' | paste - - || true
    python3 -c 'import torch; print(torch.__version__, torch.cuda.get_device_name())'
    python3 bench/train_gpu.py --steps "${STEPS:-4}" --json "$out/train_gpu.json" \
        2>&1 | tee "$out/train_gpu.log"
    ;;
*)
    echo "usage: $0 fetch|run" >&2
    exit 2
    ;;
esac
