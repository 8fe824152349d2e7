#!/usr/bin/env bash
# llmlab's two set-up commands for a fresh Debian 12 machine (run as root, or with sudo):
#
#   tools/dev.sh demo   install what is missing, build, and run an energy test end to end
#   tools/dev.sh test   install what is missing, build, and run every test suite
#
# Both are idempotent: packages already installed and builds already done are reused.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

# Debian 12 packages, one list per purpose.
build_pkgs=(meson ninja-build pkg-config gcc libsystemd-dev libcurl4-openssl-dev libjansson-dev
            libglib2.0-dev libsqlite3-dev dbus systemd libgtk-4-dev libadwaita-1-dev scdoc
            bash-completion)
llama_pkgs=(cmake g++ git make npm)
test_pkgs=(python3 python3-gi python3-dbusmock gir1.2-glib-2.0 libxml2-utils clang clang-format libclang-rt-14-dev
           valgrind xvfb xauth imagemagick python3-dogtail python3-pyatspi at-spi2-core gir1.2-atspi-2.0
           dbus-x11 util-linux openssh-server openssh-client fonts-dejavu-core
           python3-prometheus-client man-db)

log() { printf 'llmlab: %s\n' "$*" >&2; }

install_missing() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    # npm may come from the machine's own Node.js rather than Debian's package.
    if [[ " ${missing[*]} " == *" npm "* ]] && command -v npm >/dev/null; then
        missing=("${missing[@]/npm/}")
    fi
    missing=($(printf '%s\n' "${missing[@]}" | sed '/^$/d'))
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        log "missing Debian packages: ${missing[*]}"
        log "run this command as root (sudo) so that they can be installed"
        exit 1
    fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

setup_build() { # dir [meson options...]
    local dir=$1; shift
    if [ -f "$dir/build.ninja" ]; then
        meson configure "$dir" "$@" >/dev/null
    else
        meson setup "$dir" "$@" >/dev/null
    fi
    ninja -C "$dir" >/dev/null
}

case "${1:-}" in
demo)
    install_missing "${build_pkgs[@]}" "${llama_pkgs[@]}" python3
    setup_build build -Dtests=false
    exec "$top/tools/demo.sh" "$top/build"
    ;;
test)
    install_missing "${build_pkgs[@]}" "${llama_pkgs[@]}" "${test_pkgs[@]}"
    exec "$top/tools/run-tests.sh"
    ;;
*)
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
