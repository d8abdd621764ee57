#!/bin/sh
# Installs the Debian packages the kit uses when we can: as root on Debian/Ubuntu. Elsewhere it says what is missing
# and carries on; the kit falls back where it can.
#   sh scripts/system-packages.sh          bubblewrap (the sandbox) and the packaged Fashion-MNIST
#   sh scripts/system-packages.sh --test   also what the kit's own tests use: Chromium and ChromeDriver (the
#                                          written-answer pages are rendered in a real headless browser), and
#                                          slurm-wlm and munge (tests/test_slurm.py runs a one-node Slurm cluster)
set -u
need=""
command -v bwrap >/dev/null 2>&1 || need="$need bubblewrap"
[ -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] || need="$need dataset-fashion-mnist"
if [ "${1:-}" = "--test" ]; then
    command -v chromium >/dev/null 2>&1 || need="$need chromium"
    command -v chromedriver >/dev/null 2>&1 || need="$need chromium-driver"
    [ -x /usr/sbin/slurmctld ] && [ -x /usr/sbin/slurmd ] && command -v sbatch >/dev/null 2>&1 \
        || need="$need slurm-wlm"
    [ -x /usr/sbin/munged ] || need="$need munge"
fi
[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages:$need"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends $need >/dev/null \
        || { echo "apt-get failed for:$need" >&2; exit 1; }
else
    echo "note: not root on Debian/Ubuntu, skipping:$need (see README, 'Without root')" >&2
fi
