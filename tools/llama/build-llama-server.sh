#!/usr/bin/env bash
# build-llama-server.sh - build a pinned llama.cpp `llama-server` for llmlab's
# end-to-end tests and cache it outside the source tree.
#
# Source: the llama.cpp git bundle shipped inside the npm package
# node-llama-cpp@NLC_VERSION (llama.cpp v0.4.0).  The tarball is fetched with
# `npm pack` (no install scripts run) and checked against a pinned sha256.
# Only the `llama-server` target is built: CPU backend, Release, static
# llama/ggml libraries, no OpenSSL, no web UI, no tests/examples, and nothing
# is downloaded at build time.  GGML_NATIVE is off, so the binary runs on any
# x86-64 CPU with AVX2/FMA/F16C (not only the CPU that built it).
#
# Result (keyed by the first 16 hex digits of the tarball's sha256):
#   ${LLMLAB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llmlab}/llama-<key>/
#       bin/llama-server
#       ggml-vocab-llama-spm.gguf      (vocab-only GGUF, 32000-token llama SPM)
#       llama.cpp.info.json            (upstream tag of the bundle)
#       build-info.txt                 (how it was built)
#
# The last line on stdout is the binary path (or the directory with
# --print-dir); progress goes to stderr.  A cache hit returns at once.
# Concurrent invocations serialise on a flock(1) lock in the cache root.

set -euo pipefail

readonly NLC_PACKAGE="node-llama-cpp"
readonly NLC_VERSION="3.21.1"
readonly NLC_SHA256="7a231d6bafa14142a1cbed9893d4ec5bc6041b2a5f5939a623accaab4203c11f"
readonly CACHE_KEY="${NLC_SHA256:0:16}"
readonly VOCAB_NAME="ggml-vocab-llama-spm.gguf"

prog="${0##*/}"

log() { printf 'llmlab: %s\n' "$*" >&2; }
die() { printf 'llmlab: error: %s\n' "$*" >&2; exit 1; }

usage() {
    cat <<EOF
usage: $prog [--print-dir] [-h|--help]

Build llama.cpp's llama-server (from $NLC_PACKAGE@$NLC_VERSION, sha256-pinned)
into a cache directory, unless the cache already holds a working binary.

  --print-dir   print the cache directory instead of the binary path
  -h, --help    show this help

Cache: \${LLMLAB_CACHE_DIR:-\${XDG_CACHE_HOME:-\$HOME/.cache}/llmlab}/llama-$CACHE_KEY/
The last line on stdout is the result; progress is logged to stderr.
EOF
}

print_dir=0
while (($# > 0)); do
    case "$1" in
        --print-dir) print_dir=1 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
done

# ---------------------------------------------------------------- locations

if [[ -n "${LLMLAB_CACHE_DIR:-}" ]]; then
    cache_root="$LLMLAB_CACHE_DIR"
elif [[ -n "${XDG_CACHE_HOME:-}" ]]; then
    cache_root="$XDG_CACHE_HOME/llmlab"
elif [[ -n "${HOME:-}" ]]; then
    cache_root="$HOME/.cache/llmlab"
else
    die "cannot choose a cache directory: set LLMLAB_CACHE_DIR (or XDG_CACHE_HOME or HOME)"
fi
readonly cache_root
readonly out_dir="$cache_root/llama-$CACHE_KEY"
readonly out_bin="$out_dir/bin/llama-server"

# ---------------------------------------------------------------- helpers

# Temporary state, removed by cleanup() on any exit.
work_dir=""
stage_dir=""
build_pid=""

# shellcheck disable=SC2317  # invoked via trap
cleanup() {
    if [[ -n "$build_pid" ]]; then
        # The build runs in its own session (setsid): stop the whole group.
        kill -TERM -- "-$build_pid" 2>/dev/null || true
        wait "$build_pid" 2>/dev/null || true
    fi
    [[ -n "$work_dir" ]] && rm -rf -- "$work_dir"
    [[ -n "$stage_dir" ]] && rm -rf -- "$stage_dir"
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# True if DIR holds a complete, runnable build.
is_complete() {
    local dir="$1"
    [[ -x "$dir/bin/llama-server" && -s "$dir/$VOCAB_NAME" ]] &&
        "$dir/bin/llama-server" --version >/dev/null 2>&1
}

finish() {
    if ((print_dir)); then
        printf '%s\n' "$out_dir"
    else
        printf '%s\n' "$out_bin"
    fi
    exit 0
}

cpu_check() {
    # The binary uses AVX2/FMA/F16C on x86-64; say so plainly if they are absent.
    if [[ "$(uname -m)" == x86_64 && -r /proc/cpuinfo ]] &&
        ! grep -qw avx2 /proc/cpuinfo; then
        log "warning: this CPU lacks AVX2; the cached llama-server (built with AVX2) may not run here"
    fi
}

# Make sure the build tools are present; as root on Debian, install missing
# ones with apt-get, otherwise name them and fail.
require_tools() {
    local -a missing=() pkgs=()
    local tool
    command -v npm >/dev/null 2>&1 || missing+=(npm)
    for tool in cmake g++ git make; do
        command -v "$tool" >/dev/null 2>&1 || { missing+=("$tool"); pkgs+=("$tool"); }
    done
    if ((${#pkgs[@]} > 0)) && [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        # Debian package names: cmake, g++, git, make.
        log "installing missing build tools with apt-get: ${pkgs[*]}"
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get install -y --no-install-recommends "${pkgs[@]}" >&2; then
            apt-get update >&2 || true
            apt-get install -y --no-install-recommends "${pkgs[@]}" >&2 ||
                die "apt-get could not install: ${pkgs[*]}"
        fi
        missing=()
        command -v npm >/dev/null 2>&1 || missing+=(npm)
        for tool in cmake g++ git make; do
            command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
        done
    fi
    for tool in tar sha256sum setsid; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    if ((${#missing[@]} > 0)); then
        die "missing tools needed to build llama-server: ${missing[*]}" \
            "(install them, e.g. 'apt-get install cmake g++ git make' and Node.js/npm)"
    fi
}

# Run a long command in its own process group and log its progress every
# minute from the "[ NN%]" markers in LOGFILE.
run_logged() {
    local logfile="$1" what="$2"
    shift 2
    local start=$SECONDS last=$SECONDS pct rc=0
    setsid "$@" >"$logfile" 2>&1 &
    build_pid=$!
    while kill -0 "$build_pid" 2>/dev/null; do
        sleep 2
        if ((SECONDS - last >= 60)); then
            last=$SECONDS
            pct="$(grep -o '^\[ *[0-9]*%\]' "$logfile" 2>/dev/null | tail -n 1 | tr -d '[] ' || true)"
            log "$what: ${pct:-?} after $(((SECONDS - start) / 60)) min"
        fi
    done
    wait "$build_pid" || rc=$?
    build_pid=""
    if ((rc != 0)); then
        log "$what failed (exit $rc); last lines of $logfile:"
        tail -n 40 "$logfile" >&2 || true
        return "$rc"
    fi
}

# ---------------------------------------------------------------- fast path

if is_complete "$out_dir"; then
    log "llama-server is cached in $out_dir"
    finish
fi

# ---------------------------------------------------------------- lock

command -v flock >/dev/null 2>&1 || die "missing tool: flock (Debian package util-linux)"
mkdir -p -- "$cache_root" || die "cannot create cache directory $cache_root"
lock_file="$cache_root/.llama-$CACHE_KEY.lock"
exec 9>"$lock_file" || die "cannot open lock file $lock_file"
if ! flock -n 9; then
    log "another build holds $lock_file; waiting for it to finish"
    flock 9
fi

# Another invocation may have finished the build while we waited.
if is_complete "$out_dir"; then
    log "llama-server is cached in $out_dir"
    finish
fi

# ---------------------------------------------------------------- build

require_tools
cpu_check

work_dir="$(mktemp -d "${TMPDIR:-/tmp}/llmlab-llama-build.XXXXXX")"
# The staging directory sits next to the final one so that mv is a rename.
stage_dir="$(mktemp -d "$cache_root/.llama-$CACHE_KEY.tmp.XXXXXX")"

log "fetching $NLC_PACKAGE@$NLC_VERSION with npm pack"
tarball="$(cd "$work_dir" && npm pack --loglevel=error "$NLC_PACKAGE@$NLC_VERSION" | tail -n 1)" ||
    die "npm pack $NLC_PACKAGE@$NLC_VERSION failed (is the npm registry reachable?)"
tarball="$work_dir/$tarball"
[[ -f "$tarball" ]] || die "npm pack did not produce a tarball for $NLC_PACKAGE@$NLC_VERSION"

actual_sha="$(sha256sum "$tarball" | cut -d ' ' -f 1)"
if [[ "$actual_sha" != "$NLC_SHA256" ]]; then
    die "sha256 mismatch for ${tarball##*/}: expected $NLC_SHA256, got $actual_sha" \
        "(the package changed upstream; refusing to build from it)"
fi
log "sha256 ok ($NLC_SHA256)"

tar -xzf "$tarball" -C "$work_dir" \
    package/llama/gitRelease.bundle package/llama/llama.cpp.info.json ||
    die "cannot extract the llama.cpp bundle from ${tarball##*/}"
rm -f -- "$tarball"

log "cloning the llama.cpp bundle"
git -c advice.detachedHead=false clone -q \
    "$work_dir/package/llama/gitRelease.bundle" "$work_dir/llama.cpp" ||
    die "git clone of the llama.cpp bundle failed"
src="$work_dir/llama.cpp"
[[ -s "$src/models/$VOCAB_NAME" ]] || die "the bundle has no models/$VOCAB_NAME"

cmake_args=(
    -S "$src" -B "$work_dir/build"
    -DCMAKE_BUILD_TYPE=Release
    -DBUILD_SHARED_LIBS=OFF
    -DGGML_NATIVE=OFF
    -DGGML_CUDA=OFF
    -DGGML_OPENMP=OFF
    -DLLAMA_OPENSSL=OFF
    -DLLAMA_USE_PREBUILT_UI=OFF
    -DLLAMA_BUILD_UI=OFF
    -DLLAMA_BUILD_TESTS=OFF
    -DLLAMA_BUILD_EXAMPLES=OFF
    -DLLAMA_BUILD_APP=OFF
)
if [[ "$(uname -m)" == x86_64 ]]; then
    # Explicit, because ggml turns these defaults off when SOURCE_DATE_EPOCH is set.
    cmake_args+=(-DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON
        -DGGML_F16C=ON -DGGML_BMI2=ON)
fi

jobs="$(nproc 2>/dev/null || echo 2)"
log "configuring llama.cpp ($(sed -n 's/.*"tag": *"\([^"]*\)".*/\1/p' \
    "$work_dir/package/llama/llama.cpp.info.json"))"
run_logged "$work_dir/configure.log" "cmake configure" cmake "${cmake_args[@]}"

log "building llama-server (about 5 minutes on 2 idle cores, longer on a busy machine; -j$jobs)"
build_start=$SECONDS
run_logged "$work_dir/build.log" "building llama-server" \
    cmake --build "$work_dir/build" --target llama-server -j "$jobs"
log "build finished in $(((SECONDS - build_start) / 60)) min $(((SECONDS - build_start) % 60)) s"

built="$work_dir/build/bin/llama-server"
[[ -x "$built" ]] || die "the build produced no $built"
install -D -m 0755 "$built" "$stage_dir/bin/llama-server"
install -m 0644 "$src/models/$VOCAB_NAME" "$stage_dir/$VOCAB_NAME"
install -m 0644 "$work_dir/package/llama/llama.cpp.info.json" "$stage_dir/llama.cpp.info.json"
{
    printf 'source: %s@%s (sha256 %s)\n' "$NLC_PACKAGE" "$NLC_VERSION" "$NLC_SHA256"
    printf 'commit: %s\n' "$(git -C "$src" rev-parse HEAD)"
    "$stage_dir/bin/llama-server" --version 2>&1
    printf 'built: %s on %s (%s)\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(uname -m)" \
        "$(g++ --version | head -n 1)"
    printf 'cmake:'
    printf ' %q' "${cmake_args[@]:4}"
    printf '\n'
} >"$stage_dir/build-info.txt"
chmod 0755 "$stage_dir"

is_complete "$stage_dir" || die "the freshly built llama-server does not run (--version failed)"

# Replace a broken leftover, then publish atomically (rename on one filesystem).
if [[ -e "$out_dir" ]]; then
    log "removing incomplete cache entry $out_dir"
    rm -rf -- "$out_dir"
fi
mv -T -- "$stage_dir" "$out_dir"
stage_dir=""
log "llama-server cached in $out_dir"
finish
