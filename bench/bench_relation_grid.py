"""Peak memory and time of the relation grid (relation prediction + token relation attention) by sentence length.

One training step per length: word states [batch, n, d_model] -> relation logits (focal loss on random labels)
and relation keys/values for every decoder layer, then backward. BART itself is not included.

Goal (issue 4): 256 words x batch 8 within 3 GB; 512 words must not run out of memory.

On CPU each length runs in a fresh child process and the peak is its resident-set growth during the step
(ru_maxrss, so lengths do not mask each other); on CUDA it is torch.cuda.max_memory_allocated.

    python bench/bench_relation_grid.py                 # bart-large sizes: 64 128 256 512 words, batch 8
    python bench/bench_relation_grid.py --smoke         # tiny sizes, a few seconds
    python bench/bench_relation_grid.py --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GOAL_WORDS, GOAL_BATCH, GOAL_MB = 256, 8, 3 * 1024


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512], help="sentence lengths in words")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--d-model", type=int, default=1024, help="model width (bart-large: 1024)")
    p.add_argument("--layers", type=int, default=12, help="decoder layers (bart-large: 12)")
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--grid-dim", type=int, default=256, help="width of r_ij")
    p.add_argument("--reduce-dim", type=int, default=256, help="channels of the convolution")
    p.add_argument("--block-cells", type=int, default=None, help="cells per block of rows (default: the modules' default)")
    p.add_argument("--no-blocks", action="store_true", help="whole grid at once (to see what the blocks save)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--eval", action="store_true", help="forward only, no gradient")
    p.add_argument("--smoke", action="store_true", help="tiny sizes and widths: checks that the script runs")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.smoke:
        args.sizes, args.batch, args.d_model, args.layers, args.heads = [16, 32], 2, 32, 2, 2
        args.grid_dim, args.reduce_dim = 16, 16
    return args


def step(args: argparse.Namespace, n: int, device: str) -> dict:
    """One step at n words; returns seconds and the peak memory in MB."""
    import torch

    from typeprior.model.config import addition_defaults
    from typeprior.model.relation import DEFAULT_BLOCK_CELLS, RelationPrediction
    from typeprior.model.relation_attention import RelationAttention

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cells = None if args.no_blocks else (args.block_cells or DEFAULT_BLOCK_CELLS)
    focal = addition_defaults()
    task = RelationPrediction(args.d_model, args.grid_dim, block_cells=cells, alpha=focal["focal_alpha"],
                              gamma=focal["focal_gamma"]).to(device)
    attn = RelationAttention(
        args.grid_dim, args.d_model, args.layers, args.heads, reduce_dim=args.reduce_dim, block_cells=cells
    ).to(device)
    if args.eval:
        task.eval(), attn.eval()
    h = torch.randn(args.batch, n, args.d_model, device=device, requires_grad=not args.eval)
    mask = torch.ones(args.batch, n, dtype=torch.bool, device=device)
    mask[1::2, n - n // 4 :] = False  # every other sentence is a quarter shorter
    labels = torch.randint(0, 3, (args.batch, n, n), device=device)

    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with torch.set_grad_enabled(not args.eval):
        loss = task.loss(task(h, mask), labels)
        extras = attn(task.grid, h, mask)
        total = loss + sum(e.key.float().pow(2).mean() + e.value.float().pow(2).mean() for e in extras)
        if not args.eval:
            total.backward()
    if device == "cuda":
        torch.cuda.synchronize()
        peak_mb = (torch.cuda.max_memory_allocated() - before) / 2**20
    else:
        peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024  # ru_maxrss is in KB
    return {
        "words": n, "batch": args.batch, "device": device, "seconds": round(time.perf_counter() - start, 3),
        "peak_mb": round(peak_mb, 1), "block_cells": cells, "train": not args.eval,
    }


def run_child(args: argparse.Namespace, n: int, argv: list[str]) -> dict:
    """Measure one length in a fresh process, so that its peak resident set is its own."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--one", str(n)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode != 0:
        reason = "killed (out of memory?)" if proc.returncode < 0 else proc.stderr.strip().splitlines()[-1:]
        return {"words": n, "batch": args.batch, "device": "cpu", "error": str(reason), "returncode": proc.returncode}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    import torch

    device = "cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
    if args.one is not None:
        print(json.dumps(step(args, args.one, device)))
        return 0

    results = []
    print(f"{'words':>6} {'batch':>5} {'device':>6} {'seconds':>8} {'peak MB':>9}")
    for n in args.sizes:
        r = step(args, n, device) if device == "cuda" else run_child(args, n, argv)
        results.append(r)
        if "error" in r:
            print(f"{n:>6} {args.batch:>5} {r['device']:>6}   FAILED: {r['error']}")
        else:
            print(f"{n:>6} {r['batch']:>5} {r['device']:>6} {r['seconds']:>8.2f} {r['peak_mb']:>9.1f}")
    goal = next((r for r in results if r["words"] == GOAL_WORDS and r["batch"] == GOAL_BATCH and "peak_mb" in r), None)
    if goal is not None and not args.smoke:
        verdict = "within" if goal["peak_mb"] <= GOAL_MB else "OVER"
        print(f"goal: {GOAL_WORDS} words x batch {GOAL_BATCH} -> {goal['peak_mb']:.0f} MB, {verdict} {GOAL_MB} MB")
    if args.json is not None:
        tmp = args.json.with_suffix(args.json.suffix + ".tmp")
        tmp.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=2))
        tmp.replace(args.json)
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
