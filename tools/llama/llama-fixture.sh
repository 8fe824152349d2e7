#!/usr/bin/env bash
# llama-fixture.sh - provide a real llama-server binary and a tiny model for
# llmlab's end-to-end tests.
#
# Builds llama-server if needed (build-llama-server.sh, cached), then makes
# the deterministic tiny model tiny-llama.gguf next to it in the same cache
# directory if it is missing or was made by a different generator version.
# Prints two shell-sourceable lines on stdout:
#
#   LLAMA_SERVER=/…/llama-<key>/bin/llama-server
#   LLAMA_MODEL=/…/llama-<key>/tiny-llama.gguf
#
# Progress and errors go to stderr; exits non-zero with a message when the
# fixture cannot be provided.  Environment: LLMLAB_CACHE_DIR (see
# build-llama-server.sh), PYTHON (interpreter for make-tiny-model.py).

set -euo pipefail

prog="${0##*/}"
die() { printf 'llmlab: error: %s\n' "$*" >&2; exit 1; }

case "${1:-}" in
    "") ;;
    -h | --help)
        sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"
        exit 0 ;;
    *) die "usage: $prog [-h]  (unknown argument: $1)" ;;
esac

script_dir="$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
builder="$script_dir/build-llama-server.sh"
generator="$script_dir/make-tiny-model.py"
[[ -f "$builder" && -f "$generator" ]] || die "missing $builder or $generator"

# The env file is read by simple parsers too, so its values stay unquoted:
# refuse unusual paths up front (before a possibly long build).
safe_path() { [[ "$1" =~ ^[A-Za-z0-9_./+@:,=-]+$ ]]; }
unsafe_path() {
    die "path '$1' has characters that cannot appear unquoted in an env file;" \
        "set LLMLAB_CACHE_DIR to a plain path"
}
if [[ -n "${LLMLAB_CACHE_DIR:-}" ]]; then
    cache_root="$LLMLAB_CACHE_DIR"
elif [[ -n "${XDG_CACHE_HOME:-}" ]]; then
    cache_root="$XDG_CACHE_HOME/llmlab"
else
    cache_root="${HOME:-}/.cache/llmlab"
fi
safe_path "$cache_root" || unsafe_path "$cache_root"

cache_dir="$(bash "$builder" --print-dir | tail -n 1)" ||
    die "could not build llama-server (see the messages above)"
[[ -n "$cache_dir" && -d "$cache_dir" ]] || die "build-llama-server.sh printed no cache directory"

server="$cache_dir/bin/llama-server"
vocab="$cache_dir/ggml-vocab-llama-spm.gguf"
model="$cache_dir/tiny-llama.gguf"
stamp="$model.generator-sha256"
[[ -x "$server" ]] || die "$server is missing or not executable"
[[ -s "$vocab" ]] || die "$vocab is missing"

for path in "$server" "$model"; do
    safe_path "$path" || unsafe_path "$path"
done

# Regenerate the model if it is missing or the generator changed since.
want_stamp="$(sha256sum "$generator" | cut -d ' ' -f 1)"
have_stamp="$(cat -- "$stamp" 2>/dev/null || true)"
if [[ ! -s "$model" || "$have_stamp" != "$want_stamp" ]]; then
    python="${PYTHON:-}"
    if [[ -z "$python" ]]; then
        for candidate in python3 /usr/bin/python3; do
            if command -v "$candidate" >/dev/null 2>&1; then
                python="$candidate"
                break
            fi
        done
    fi
    [[ -n "$python" ]] || die "python3 is needed to generate the tiny model but was not found"
    printf 'llmlab: generating %s\n' "$model" >&2
    "$python" "$generator" "$vocab" "$model" ||
        die "make-tiny-model.py failed to write $model"
    # Publish the stamp atomically too (concurrent runs write the same bytes).
    printf '%s\n' "$want_stamp" >"$stamp.tmp.$$"
    mv -f -- "$stamp.tmp.$$" "$stamp"
fi

printf 'LLAMA_SERVER=%s\n' "$server"
printf 'LLAMA_MODEL=%s\n' "$model"
