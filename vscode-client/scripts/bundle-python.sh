#!/usr/bin/env bash
# Bundles torchpit and its (pure-Python) dependencies into bundled/libs, which the extension
# puts on PYTHONPATH when torchpit.importStrategy is useBundled. The wheel is built from the
# repository root. The bundle must run on any Python >= 3.10, the oldest torchpit supports, but
# pip evaluates requirement markers for the interpreter running it, so the requirements that
# only Python 3.10 needs (tomli, exceptiongroup, ...) are added until none is missing.
# PYTHON picks the interpreter that runs pip (default: the repository's .venv, else python3);
# it needs the `packaging` module.
set -euo pipefail

client="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$client/.." && pwd)"
default_python=python3
[ -x "$root/.venv/bin/python" ] && default_python="$root/.venv/bin/python"
python="${PYTHON:-$default_python}"
libs="$client/bundled/libs"
wheels="$(mktemp -d)"
trap 'rm -rf "$wheels"' EXIT

"$python" -m pip wheel --quiet --no-deps --wheel-dir "$wheels" "$root"
rm -rf "$libs"
install() {
  "$python" -m pip install --quiet --no-compile --target "$libs" \
    --python-version 3.10 --implementation py --only-binary=:all: --upgrade "$@"
}

# Requirements of the bundled distributions that apply on Python 3.10 and are not bundled yet.
missing_for_py310() {
  "$python" - "$libs" <<'PY'
import pathlib
import sys
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

libs = pathlib.Path(sys.argv[1])
py310 = {"python_version": "3.10", "python_full_version": "3.10.0", "extra": ""}
have = {canonicalize_name(d.name.removesuffix(".dist-info").rsplit("-", 1)[0]) for d in libs.glob("*.dist-info")}
missing = set()
for metadata in libs.glob("*.dist-info/METADATA"):
    for line in metadata.read_text(encoding="utf-8").splitlines():
        if line.startswith("Requires-Dist:"):
            req = Requirement(line.partition(":")[2].strip())
            if req.marker and req.marker.evaluate(py310) and canonicalize_name(req.name) not in have:
                missing.add(f"{req.name}{req.specifier}")
print("\n".join(sorted(missing)))
PY
}

install "$wheels"/torchpit-*.whl
for _ in 1 2 3 4 5; do
  extra="$(missing_for_py310)"
  [ -z "$extra" ] && break
  # shellcheck disable=SC2086 # one requirement per line, none with spaces
  install $extra
done
extra="$(missing_for_py310)"
[ -z "$extra" ] || { echo "bundle-python: still missing for Python 3.10: $extra" >&2; exit 1; }
# Console scripts point at the interpreter that ran pip; the extension runs `-m torchpit`.
rm -rf "$libs/bin"
echo "bundled into $libs: $(ls "$libs" | grep -v '\.dist-info$' | tr '\n' ' ')"
