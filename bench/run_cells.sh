#!/usr/bin/env bash
# One background lane of the reduced Table 4: steps run one after another with one torch thread, logged to
# bench/results/LANE.log. Every step is resumable (finished cells are skipped), so rerunning a lane continues it.
#   bench/run_cells.sh LANE [--after PID] "table4.py run --corpus conll2003 --seed 42" "peer.py run ..." ...
set -uo pipefail
cd "$(dirname "$0")/.."
lane=$1; shift
after=""
if [ "${1:-}" = "--after" ]; then after=$2; shift 2; fi
mkdir -p bench/results
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 PREFECT_SERVER_ANALYTICS_ENABLED=false
steps=("$@")
nohup bash -c '
  after=$1; shift
  if [ -n "$after" ]; then while kill -0 "$after" 2>/dev/null; do sleep 10; done; fi
  for step in "$@"; do
    echo "$(date -u +%T) step: $step"
    .venv/bin/python bench/$step; rc=$?
    if [ "$rc" -ne 0 ]; then echo "$(date -u +%T) step failed (rc=$rc): $step"; fi
  done
  echo "$(date -u +%T) lane done"
' lane "$after" "${steps[@]}" >> "bench/results/$lane.log" 2>&1 &
echo "$!" > "bench/results/$lane.pid"
echo "lane $lane: pid $! log bench/results/$lane.log"
