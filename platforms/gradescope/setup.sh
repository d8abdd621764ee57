#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image; the zip is unpacked in
# /autograder/source. It installs the Debian packages, a virtual environment with the pinned requirements and the
# kit (editable, from the bundle's own source), then loads, verifies and caches the datasets so that grading is
# offline. Needs Python >= 3.11: choose the Ubuntu 24.04 base image (Ubuntu 22.04 gets python3.11 from apt).
set -euo pipefail
root="${AUTOGRADER_ROOT:-/autograder}"
source_dir="$root/source"
venv="$root/venv"
export DEBIAN_FRONTEND=noninteractive

apt-get update -qq
# bubblewrap is the sandbox (the grader falls back without it); util-linux brings setpriv and prlimit, which it uses
apt-get install -y -qq --no-install-recommends bubblewrap util-linux ca-certificates
# the packaged Fashion-MNIST; where the distribution lacks it, nnkit.data downloads it through Keras below
apt-get install -y -qq --no-install-recommends dataset-fashion-mnist \
    || echo "note: no dataset-fashion-mnist package here; Fashion-MNIST will be downloaded through Keras"

python=""
for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        python="$candidate"
        break
    fi
done
if [ -z "$python" ]; then
    apt-get install -y -qq --no-install-recommends python3.11 python3.11-venv \
        || { echo "error: no Python >= 3.11; choose the Ubuntu 24.04 base image" >&2; exit 1; }
    python=python3.11
fi
version="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
# Debian and Ubuntu ship venv's ensurepip separately
apt-get install -y -qq --no-install-recommends "python$version-venv" || true

"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r "$source_dir/requirements.lock"
"$venv/bin/python" -m pip install --quiet --no-deps -e "$source_dir"

# the sandboxed worker runs as an unprivileged uid and reads these through read-only binds
chmod -R a+rX "$source_dir/nnkit" "$source_dir/grader/running" "$venv"
chmod a+x "$source_dir/run_autograder"

NNKIT_CACHE_DIR="$root/datasets" "$venv/bin/python" -m nnkit.data
