#!/usr/bin/env bash
# Builds llmlab twice (a normal build and an ASan+UBSan build), runs every meson test suite in
# both, and ends with one line "N passed, N failed[, N skipped]" computed from meson's test logs.
# Exits non-zero if any test failed. Called by tools/dev.sh test (and so by .ci/run).
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
log() { printf 'llmlab: %s\n' "$*" >&2; }

builds=(build build-asan)
declare -A options=(
    [build]="-Dbuildtype=debugoptimized"
    [build-asan]="-Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false"
)
status=0

for b in "${builds[@]}"; do
    log "building $b"
    # shellcheck disable=SC2086
    if [ -f "$b/build.ninja" ]; then
        meson configure "$b" ${options[$b]} >/dev/null || status=1
    else
        meson setup "$b" ${options[$b]} >/dev/null || status=1
    fi
    if ! ninja -C "$b"; then
        log "build $b failed"
        status=1
        continue
    fi
    rm -f "$b/meson-logs/testlog.json"
    log "testing $b"
    meson test -C "$b" --print-errorlogs --num-processes 2 || status=1
done

# The summary CI reads, from meson's own logs (one JSON object per test and line).
/usr/bin/python3 - "${builds[@]}" <<'PY' || status=1
import json, os, sys
passed = failed = skipped = 0
for b in sys.argv[1:]:
    path = os.path.join(b, "meson-logs", "testlog.json")
    if not os.path.exists(path):
        failed += 1          # a build that could not run its tests counts as a failure
        continue
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line:
            continue
        result = json.loads(line).get("result")
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:
            failed += 1
summary = f"{passed} passed, {failed} failed"
if skipped:
    summary += f", {skipped} skipped"
print(summary)
sys.exit(1 if failed else 0)
PY
s=$?
[ $s -ne 0 ] && status=1
exit $status
