#!/usr/bin/env bash
# Builds llmlab twice (a normal build and an ASan+UBSan build), runs every meson test suite in
# both, fuzzes each libFuzzer target for a bounded time (with clang), and ends with one line
# "N passed, N failed[, N skipped]" computed from meson's test logs and the fuzzing results.
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

# A bounded real fuzzing run (the corpus replays above run in every build): each libFuzzer target of
# tests/fuzz/ for LLMLAB_FUZZ_SECONDS (default 60) from its seed corpus, built with clang. A crash
# fails CI; its input is kept in build-fuzz/artifacts/ and belongs in tests/fuzz/corpus/<name>/ as a
# regression test once fixed. Results go to build-fuzz/fuzz-results.txt for the summary.
fuzz_seconds=${LLMLAB_FUZZ_SECONDS:-60}
if command -v clang >/dev/null && [ "$fuzz_seconds" -gt 0 ]; then
    log "building build-fuzz"
    if [ -f build-fuzz/build.ninja ]; then
        meson configure build-fuzz -Dfuzzing=true >/dev/null || status=1
    else
        CC=clang meson setup build-fuzz -Dfuzzing=true -Dbuildtype=debugoptimized >/dev/null || status=1
    fi
    mkdir -p build-fuzz/artifacts
    : >build-fuzz/fuzz-results.txt
    for src in tests/fuzz/fuzz-*.c; do
        name=$(basename "$src" .c)
        [ "$name" = fuzz-main ] && continue
        target=${name#fuzz-}
        if ! ninja -C build-fuzz "tests/fuzz/$name" >/dev/null; then
            log "building $name failed"
            echo "FAIL $name (build)" >>build-fuzz/fuzz-results.txt
            status=1
            continue
        fi
        log "fuzzing $name for ${fuzz_seconds}s"
        scratch=$(mktemp -d)
        if "build-fuzz/tests/fuzz/$name" -max_total_time="$fuzz_seconds" -print_final_stats=1 \
                -artifact_prefix="build-fuzz/artifacts/$name-" "$scratch" "tests/fuzz/corpus/$target" \
                >"build-fuzz/$name.log" 2>&1; then
            echo "OK $name" >>build-fuzz/fuzz-results.txt
        else
            log "$name found a crash (build-fuzz/$name.log, input in build-fuzz/artifacts/):"
            grep -E 'ERROR|SUMMARY|Test unit written' "build-fuzz/$name.log" >&2 || tail -20 "build-fuzz/$name.log" >&2
            echo "FAIL $name" >>build-fuzz/fuzz-results.txt
            status=1
        fi
        rm -rf "$scratch"
    done
else
    log "clang not found (or LLMLAB_FUZZ_SECONDS=0): no fuzzing run"
    rm -f build-fuzz/fuzz-results.txt
fi

# The summary CI reads, from meson's own logs (one JSON object per test and line) and the fuzzing run.
/usr/bin/python3 - "${builds[@]}" <<'PY' || status=1
import json, os, sys
passed = failed = skipped = 0
if os.path.exists("build-fuzz/fuzz-results.txt"):
    for line in open("build-fuzz/fuzz-results.txt", encoding="utf-8"):
        if line.startswith("OK "):
            passed += 1
        elif line.strip():
            failed += 1
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
