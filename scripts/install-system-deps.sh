#!/usr/bin/env bash
# System pieces openrft needs beyond PyPI, installed into the venv where possible:
#   - bubblewrap: the python-grader sandbox (Debian package `bubblewrap`).
#   - python3 (Debian's): the interpreter the tier-3 sandbox tests run graders with.
#   - chromium-headless-shell: the report tests render every HTML report in it and check the page
#     (fonts-dejavu-core: the charts' monospace font).
#   - WordNet 3.0: the `meteor` metric, offline. Debian's `wordnet-base` and `wordnet-sense-index`
#     ship the database files; nltk also wants `lexnames`, which we write from the WordNet
#     lexnames(5WN) table. The result lands in $VENV/nltk_data/corpora/wordnet, on nltk's default
#     search path for that interpreter, so nothing is downloaded at run time.
#   - postgresql: the store tests run each store test on PostgreSQL too, on a server their
#     fixture starts (initdb + pg_ctl from /usr/lib/postgresql/*/bin) on loopback.
# Needs root (or sudo) for apt; without it, says what to install and carries on.
set -euo pipefail
venv=${1:-.venv}
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
[ -f /usr/share/wordnet/data.noun ] || need+=(wordnet-base)
[ -f /usr/share/wordnet/index.sense ] || need+=(wordnet-sense-index)
# The tier-3 sandbox tests run Debian's interpreter (the venv's base lives under a 0700 /root).
[ -x /usr/bin/python3 ] || need+=(python3)
command -v chromium-headless-shell >/dev/null 2>&1 || command -v chromium >/dev/null 2>&1 \
  || need+=(chromium-headless-shell)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
# The reports' charts are set in DejaVu Sans Mono, so their text widths are known in advance.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf ] || need+=(fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  if command -v apt-get >/dev/null 2>&1 && { [ -z "$sudo" ] || sudo -n true 2>/dev/null; }; then
    echo "installing system packages: ${need[*]}"
    $sudo apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "warning: cannot install ${need[*]} (needs root and apt-get);" \
         "python graders, the meteor metric, the report and PostgreSQL store tests will say" \
         "what is missing" >&2
  fi
fi
dest="$venv/nltk_data/corpora/wordnet"
if [ -f /usr/share/wordnet/data.noun ] && [ ! -f "$dest/lexnames" ]; then
  mkdir -p "$dest"
  for f in /usr/share/wordnet/*; do [ -f "$f" ] && cp "$f" "$dest/"; done
  python3 - "$dest/lexnames" <<'PY'
import sys
# WordNet 3.0 lexicographer files, in file-number order (lexnames(5WN)).
names = """adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute
noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group
noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession
noun.process noun.quantity noun.relation noun.shape noun.state noun.substance noun.time
verb.body verb.change verb.cognition verb.communication verb.competition verb.consumption
verb.contact verb.creation verb.emotion verb.motion verb.perception verb.possession verb.social
verb.stative verb.weather adj.ppl""".split()
category = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
with open(sys.argv[1], "w") as out:
    for i, name in enumerate(names):
        out.write(f"{i:02d}\t{name}\t{category[name.split('.')[0]]}\n")
PY
fi
