#!/usr/bin/env bash
# One background lane of the reduced Table 4: one torch thread, a log under bench/results/, resumable.
#   bench/run_cells.sh LANE_NAME table4.py|peer.py ARGS...
set -euo pipefail
cd "$(dirname "$0")/.."
lane=$1; shift
script=$1; shift
mkdir -p bench/results
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 PREFECT_SERVER_ANALYTICS_ENABLED=false
nohup .venv/bin/python "bench/$script" run "$@" >> "bench/results/$lane.log" 2>&1 &
echo "$!" > "bench/results/$lane.pid"
echo "lane $lane: pid $! log bench/results/$lane.log"
