#!/usr/bin/env bash
# The main job, end to end: one energy test of a real model.
#
#   tools/demo.sh BUILDDIR [PROMPT]
#
# Uses Ollama when one answers at 127.0.0.1:11434 (its first model); otherwise builds (or reuses)
# llama.cpp's llama-server and a tiny generated model and serves that. Starts a private session
# bus and a user-mode llmlabd, runs `llmlabctl run-energy`, prints the result table (measured with
# RAPL when the machine's energy counters are readable, estimated from a benchmark otherwise, and
# says which), then stops everything it started.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$top/build}
prompt=${2:-"Explain in three sentences why measuring the energy of language-model inference matters."}
log() { printf 'llmlab-demo: %s\n' "$*" >&2; }

[ -x "$build/daemon/llmlabd" ] && [ -x "$build/client/ctl/llmlabctl" ] ||
    { log "no build in $build (run tools/dev.sh demo)"; exit 1; }

work=$(mktemp -d /tmp/llmlab-demo.XXXXXX)
pids=()   # what this script started, in start order
names=()
stop_pid() { # pid: SIGTERM; a second one after 1 s (llama-server waits 30 s with a stream in flight); SIGKILL after 5 s
    local i
    kill -TERM "$1" 2>/dev/null || return 0
    for i in $(seq 50); do
        kill -0 "$1" 2>/dev/null || return 0
        [ "$i" -eq 10 ] && kill -TERM "$1" 2>/dev/null
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
}
cleanup() {
    local i
    trap - EXIT INT TERM
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do # the daemon first, the inference server last
        stop_pid "${pids[i]}"
    done
    if [ ${#names[@]} -gt 0 ]; then
        printf -v i '%s, ' "${names[@]}"
        log "stopped what the demo started: ${i%, }"
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
started() { pids+=("$1"); names+=("$2"); }

free_port() { /usr/bin/env python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url seconds
    local i
    for i in $(seq $(( $2 * 10 ))); do
        curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

if curl -fsS --max-time 2 http://127.0.0.1:11434/api/version >/dev/null 2>&1; then
    model=$(curl -fsS --max-time 5 http://127.0.0.1:11434/api/tags |
            /usr/bin/env python3 -c 'import json,sys; m=json.load(sys.stdin).get("models",[]); print(m[0]["name"] if m else "")')
    [ -n "$model" ] || { log "Ollama is running but has no model: try 'ollama pull qwen3:0.6b'"; exit 1; }
    log "using Ollama at 127.0.0.1:11434, model $model"
    printf '[Backend ollama]\nKind=ollama\nUrl=http://127.0.0.1:11434\n' > "$work/llmlab.conf"
else
    log "no Ollama at 127.0.0.1:11434: using llama.cpp's llama-server with a tiny generated model"
    # Builds llama-server the first time (minutes; cached, keyed by the pinned bundle's sha256).
    fixture=$("$top/tools/llama/llama-fixture.sh") ||
        { log "cannot provide llama-server and the tiny model (see above); or start Ollama and pull a model"; exit 1; }
    eval "$fixture"
    port=$(free_port)
    model=tiny-llama
    "$LLAMA_SERVER" -m "$LLAMA_MODEL" --host 127.0.0.1 --port "$port" -t 1 -np 1 --alias "$model" \
        --chat-template chatml --no-warmup >"$work/llama-server.log" 2>&1 &
    started $! llama-server
    wait_http "http://127.0.0.1:$port/health" 60 || { log "llama-server did not start:"; tail -20 "$work/llama-server.log" >&2; exit 1; }
    log "llama-server serves $LLAMA_MODEL as $model at 127.0.0.1:$port"
    printf '[Backend llama]\nKind=openai\nUrl=http://127.0.0.1:%s\n' "$port" > "$work/llmlab.conf"
fi

# A private session bus and a user-mode daemon (no polkit, no system configuration touched).
bus_address=$(dbus-daemon --session --fork --nopidfile --print-address=1 --print-pid=2 2>"$work/bus.pid" | head -1)
started "$(cat "$work/bus.pid")" "the session bus"
export DBUS_SESSION_BUS_ADDRESS=$bus_address
mkdir -p "$work/state"
LLMLAB_CONFIG=$work/llmlab.conf STATE_DIRECTORY=$work/state LLMLAB_DATA_DIR=$top \
    "$build/daemon/llmlabd" --user >"$work/llmlabd.log" 2>&1 &
started $! llmlabd
ready=
for _ in $(seq 100); do
    "$build/client/ctl/llmlabctl" --user status >/dev/null 2>&1 && { ready=1; break; }
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
done
[ -n "$ready" ] || { log "llmlabd did not start:"; tail -20 "$work/llmlabd.log" >&2; exit 1; }

"$build/client/ctl/llmlabctl" --user status
echo
log "running an energy test on $model"
"$build/client/ctl/llmlabctl" --user run-energy -m "$model" -n 128 --seed 42 -t 0.7 -p "$prompt"
