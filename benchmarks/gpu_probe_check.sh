#!/usr/bin/env bash
# Run every probe on CUDA and keep the JSON. For a GPU machine where torch is already
# installed: this script installs nothing heavy (torchpit itself only, without deps, if missing).
# Usage: benchmarks/gpu_probe_check.sh            (prints the JSON)
#        OUT=/some/dir benchmarks/gpu_probe_check.sh   (also saves $OUT/probe_cuda.json)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"

"$PYTHON" -W ignore -c "import torch; print('torch', torch.__version__, 'CUDA device:', \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)" >&2
if ! "$PYTHON" -c "import torchpit.probe" 2>/dev/null; then
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"   # run from the source tree
fi

json="$(mktemp)"
trap 'rm -f "$json"' EXIT
status=0
"$PYTHON" -m torchpit.probe --device cuda --format json --no-cache --timeout 120 >"$json" || status=$?
cat "$json"
if [ "$status" -eq 0 ] && [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT"
  cp "$json" "$OUT/probe_cuda.json"
  echo "saved $OUT/probe_cuda.json" >&2
fi
exit "$status"
