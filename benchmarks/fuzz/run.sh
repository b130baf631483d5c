#!/usr/bin/env bash
# Coverage-guided fuzzing of rtio's decoders (atheris / libFuzzer), one target after another:
#   benchmarks/fuzz/run.sh [N] [TARGET...]
# N inputs per target (default 1,000,000); targets: http ws engine sio_json sio_msgpack
# (default all). Installs atheris into the project .venv if missing. A benchmark, not a
# test stage: ~2-5 minutes per target per million inputs on one core.
# Per target it prints: inputs executed, wall time, exec/s, coverage (libFuzzer's edges
# "cov" and features "ft"), findings (distinct exception type + rtio file:line, and hangs).
# Findings (shortest input + traceback) go to $ARTIFACTS/fuzz/findings/<target>/; the
# working corpus to $ARTIFACTS/fuzz/corpus/<target>/ (started afresh from seeds/ each run).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
ARTIFACTS="${ARTIFACTS:-$ROOT/artifacts}"
N="${1:-1000000}"
shift || true
TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=(http ws engine sio_json sio_msgpack)
PY="$ROOT/.venv/bin/python"

[[ -x "$ROOT/.venv/bin/pytest" ]] || "$ROOT/scripts/bootstrap.sh"
if ! "$PY" -c 'import atheris' 2>/dev/null; then
  echo "[fuzz] installing atheris into .venv" >&2
  "$ROOT/.venv/bin/pip" install -q --disable-pip-version-check 'atheris>=2.3' >&2
fi

declare -A MAXLEN=([http]=9000 [ws]=4096 [engine]=4096 [sio_json]=4096 [sio_msgpack]=4096)
rows=()
total_findings=0
for t in "${TARGETS[@]}"; do
  findings="$ARTIFACTS/fuzz/findings/$t"
  corpus="$ARTIFACTS/fuzz/corpus/$t"
  log="$ARTIFACTS/fuzz/$t.log"
  rm -rf "$findings" "$corpus"
  mkdir -p "$findings" "$corpus"
  echo "[fuzz] $t: $N inputs (log: $log)" >&2
  start=$(date +%s.%N)
  (cd "$HERE" && FUZZ_FINDINGS="$ARTIFACTS/fuzz/findings" nice -n 10 "$PY" "fuzz_$t.py" \
      -runs="$N" -max_len="${MAXLEN[$t]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$findings/" "$corpus" "seeds/$t") >"$log" 2>&1
  rc=$?
  end=$(date +%s.%N)
  wall=$("$PY" -c "print(round($end - $start, 1))")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  execs=${execs:-0}
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
  hangs=$(find "$findings" -maxdepth 1 -name 'timeout-*' -o -maxdepth 1 -name 'oom-*' -o -maxdepth 1 -name 'crash-*' | wc -l)
  found=$(find "$findings" -maxdepth 1 -name '*.txt' | wc -l)
  kinds=$(for f in "$findings"/*.txt; do [[ -f $f ]] && head -1 "$f"; done | paste -sd ';' -)
  [[ $rc -ne 0 && $hangs -eq 0 ]] && kinds="${kinds:+$kinds;}libFuzzer exit $rc (see log)"
  n=$((found + hangs))
  total_findings=$((total_findings + n))
  rate=$("$PY" -c "print(int($execs / max($wall, 0.1)))")
  rows+=("$(printf '%-12s %10s %9.1f %8s  %-18s %3s  %s' "$t" "$execs" "$wall" "$rate" "${cov:-?}" "$n" "${kinds:--}")")
done
printf '%-12s %10s %9s %8s  %-18s %3s  %s\n' target inputs wall_s exec/s coverage n findings
printf '%s\n' "${rows[@]}"
echo "findings: $total_findings (inputs and tracebacks under $ARTIFACTS/fuzz/findings/)"
