#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, then runs every stage
# in tests/stages/ in order (lint and types, unit tests, conformance suites, real clients,
# browser end-to-end). `scripts/test.sh --fast` runs only the quick stages (lint + unit).
# `scripts/test.sh NAME...` runs the stages whose file names contain NAME.
# A stage that needs something outside the repository (../shared: the official Engine.IO and
# Socket.IO protocol suites) and does not find it exits 77: counted as skipped, with a line saying how
# to run it. Last line: "stages: N passed, M failed, K skipped" (exit 0 when none failed).
# Artifacts (logs, screenshots) go to artifacts/.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/bootstrap.sh || { echo "stages: 0 passed, 1 failed, 0 skipped"; exit 1; }
export PATH="$ROOT/.venv/bin:$PATH" ARTIFACTS="$ROOT/artifacts"
mkdir -p "$ARTIFACTS"

stages=()
for f in tests/stages/[0-9]*.sh; do
  name=$(basename "$f" .sh)
  if [[ ${1:-} == --fast ]]; then
    [[ $name == 1[0-9]-* ]] || continue
  elif [[ $# -gt 0 ]]; then
    keep=0; for pat in "$@"; do [[ $name == *"$pat"* ]] && keep=1; done
    [[ $keep == 1 ]] || continue
  fi
  stages+=("$f")
done

passed=0; failed=0; skipped=0; failed_names=(); skipped_names=()
for f in "${stages[@]}"; do
  name=$(basename "$f" .sh)
  echo "=== stage $name ==="
  start=$SECONDS
  bash "$f"; rc=$?
  if [[ $rc -eq 0 ]]; then
    passed=$((passed + 1)); echo "=== stage $name: ok ($((SECONDS - start))s) ==="
  elif [[ $rc -eq 77 ]]; then
    skipped=$((skipped + 1)); skipped_names+=("$name"); echo "=== stage $name: skipped ==="
  else
    failed=$((failed + 1)); failed_names+=("$name"); echo "=== stage $name: FAILED ($((SECONDS - start))s) ==="
  fi
done
[[ $skipped -gt 0 ]] && echo "skipped stages (they need ../shared, see above): ${skipped_names[*]}"
[[ $failed -gt 0 ]] && echo "failed stages: ${failed_names[*]}"
echo "stages: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 && $((passed + skipped)) -gt 0 ]]
