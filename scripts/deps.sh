#!/bin/sh
# Make sure the system libraries qingling builds against are present.
#
# The build asks pkg-config for each library; whatever it cannot find is
# installed from Debian's packages (through sudo when not root), so a fresh
# machine needs nothing but make and a C compiler to build and test.
# Extra packages a target needs (clang for fuzzing, say) can be named as
# arguments: scripts/deps.sh clang
set -eu

need=""
check() { # pkg-config name, Debian package
    pkg-config --exists "$1" 2>/dev/null || need="$need $2"
}
command -v pkg-config >/dev/null 2>&1 || need="$need pkg-config"
command -v cc >/dev/null 2>&1 || need="$need gcc"
if command -v pkg-config >/dev/null 2>&1; then
    check sqlite3 libsqlite3-dev
    check lua5.4 liblua5.4-dev
    check libsodium libsodium-dev
    check cmocka libcmocka-dev
    check jansson libjansson-dev
else
    need="$need libsqlite3-dev liblua5.4-dev libsodium-dev libcmocka-dev"
    need="$need libjansson-dev"
fi
# libcsv ships no pkg-config file: look for its header.
[ -e /usr/include/csv.h ] || need="$need libcsv-dev"
for extra in "$@"; do
    dpkg -s "$extra" >/dev/null 2>&1 || need="$need $extra"
done

[ -z "$need" ] && exit 0

echo "qingling: installing missing packages:$need" >&2
if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "qingling: need root or sudo to install:$need" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $need >&2
