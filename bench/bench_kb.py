"""Speed of the knowledge-base pipeline: entity names embedded per second, dump pages parsed per second, θ in SQL over
1M synthetic entities, and a full offline snapshot build.

Goals on 2 CPU cores: ≥ 800 names/s embedded; θ over 1M entities < 5 s.
Dump pages are the real wikitext articles of ../shared/data/wikipedia/wikitext when present (the project's own
fixture pages otherwise), repeated under new titles to the asked count, written as an XML export and streamed back.

    python bench/bench_kb.py                 # full run, writes bench_kb.json
Embedding runs the chosen backend (`--backend`, default `auto`: onnxruntime where installed) and PyTorch alternately.

    python bench/bench_kb.py --smoke         # small sizes, demo scheme build, a minute or less
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "tests"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

SHARED_WIKITEXT = ROOT.parent / "shared" / "data" / "wikipedia" / "wikitext"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="small sizes for a quick check")
    p.add_argument("--threads", type=int, default=2, help="torch threads for embedding")
    p.add_argument("--names", type=int, default=5000, help="entity names embedded")
    p.add_argument("--batch", type=int, default=256, help="embedding batch size")
    p.add_argument("--rounds", type=int, default=3, help="embedding rounds, each backend once per round")
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "onnx"], help="the embedding backend")
    p.add_argument("--dump-pages", type=int, default=2000, help="pages in the synthetic dump")
    p.add_argument("--theta-entities", type=int, default=1_000_000, help="synthetic entities for θ")
    p.add_argument("--scheme", default="conll2003", help="scheme of the snapshot build")
    p.add_argument("--skip-build", action="store_true", help="leave out the full snapshot build")
    p.add_argument("--json", type=Path, default=Path("bench_kb.json"), help="where to write the results")
    args = p.parse_args(argv)
    if args.smoke:
        args.names, args.dump_pages, args.theta_entities, args.scheme, args.rounds = 512, 200, 100_000, "demo", 1
    return args


def bench_embedding(n: int, batch: int, rounds: int, backend: str) -> dict:
    """Names/s of `backend` (auto: onnxruntime where installed) and of PyTorch, alternating each round so load hits
    both alike, with the largest difference between their vectors."""
    import numpy as np

    from typeprior.kb.embeddings import Encoder
    from typeprior.kb.sources import SnapshotSource
    from typeprior.kb.wikitext import entity_name

    names = sorted({entity_name(p.title) for p in SnapshotSource().stream(set())})
    names = (names * (n // len(names) + 1))[:n]
    arms = {"torch": Encoder.load(batch_size=batch, backend="torch")}
    chosen = Encoder.load(batch_size=batch, backend=backend)
    if chosen.backend != "torch":
        arms[chosen.backend] = chosen
    for encoder in arms.values():
        encoder.encode(names[:batch])
    rates: dict[str, list[float]] = {k: [] for k in arms}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(rounds):
        for key, encoder in arms.items():
            started = time.perf_counter()
            vectors[key] = encoder.encode(names)
            rates[key].append(n / (time.perf_counter() - started))
    out = {"names": n, "batch": batch, "rounds": rounds, "backend": chosen.backend,
           "names_per_s": round(statistics.median(rates[chosen.backend]), 1), "goal_names_per_s": 800,
           "arms": {k: {"names_per_s_median": round(statistics.median(v), 1), "rounds": [round(x, 1) for x in v]}
                    for k, v in rates.items()}}
    if chosen.backend != "torch":
        out["max_abs_diff_to_torch"] = float(np.abs(vectors[chosen.backend] - vectors["torch"]).max())
    return out


def bench_dump(n: int, workdir: Path) -> dict:
    from fake_mediawiki import FIXTURE_PAGES, FakePage, FakeWiki, write_xml_export
    from typeprior.kb.sources import DumpSource
    from typeprior.kb.wikitext import parse_wikitext

    base = FakeWiki.from_dirs(SHARED_WIKITEXT if SHARED_WIKITEXT.is_dir() else FIXTURE_PAGES)
    originals = [p for p in base.pages.values() if p.ns == 0]
    pages = {}
    for i in range(n):
        src = originals[i % len(originals)]
        title = f"{src.title} {i}"
        pages[title] = FakePage(title, src.wikitext, 10_000 + i)
    dump = write_xml_export(FakeWiki(pages), workdir / "bench.xml.bz2", compress=True)
    started = time.perf_counter()
    count = chars = 0
    for item in DumpSource(dump).stream(set()):
        if hasattr(item, "content"):
            parse_wikitext(item.title, item.content)
            chars += len(item.content)
        count += 1
    seconds = time.perf_counter() - started
    return {"pages": count, "source": "shared wikitext" if SHARED_WIKITEXT.is_dir() else "fixtures",
            "megabytes": round(chars / 1e6, 1), "seconds": round(seconds, 3),
            "pages_per_s": round(count / seconds, 1)}


def bench_theta(n: int, workdir: Path) -> dict:
    from typeprior.kb.store import KBStore
    from typeprior.warehouse import open_warehouse

    with open_warehouse(workdir / "theta.duckdb") as wh:
        con = wh.con
        con.execute("SET enable_progress_bar = false")
        con.execute("INSERT INTO kb_builds (scheme, sources, model_id, config_hash, config_json, started_at, status) "
                    "VALUES ('bench', ['synthetic'], 'none', 'x', '{}', now(), 'running')")
        con.execute(
            "INSERT INTO kb_entities SELECT 'synthetic', 'bench', 'entity ' || i, "
            "['PER', 'LOC', 'ORG', 'MISC'][1 + i % 4], 'entity ' || i, 'synthetic' FROM range($n) t(i)", {"n": n})
        con.execute("INSERT INTO kb_inlinks SELECT 'synthetic', 'entity ' || i, (hash(i) % 10000)::BIGINT "
                    "FROM range($n) t(i)", {"n": n})
        store = KBStore(wh)
        started = time.perf_counter()
        rows = store.compute_weights(1)
        seconds = time.perf_counter() - started
        sums = con.execute("SELECT max(abs(s - 1)) FROM (SELECT sum(theta) s FROM kb_weights GROUP BY entity_type)"
                           ).fetchone()[0]
    return {"entities": n, "weighted": rows, "seconds": round(seconds, 3), "max_sum_error": sums, "goal_s": 5}


def bench_snapshot_build(scheme: str, workdir: Path) -> dict:
    from typeprior.kb.build import plan_build, run_build

    started = time.perf_counter()
    result = run_build(workdir / "snapshot.duckdb", plan_build(scheme, ["snapshot"]), progress=False)
    seconds = time.perf_counter() - started
    return {"scheme": scheme, "seconds": round(seconds, 1), "entities": result.weights,
            "embedded": result.embedded, "typed": {k: v.typed for k, v in result.entities.items()}}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    result: dict = {"smoke": args.smoke, "threads": args.threads, "machine": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "torch": torch.__version__,
                    "loadavg_start": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory(prefix="bench-kb-") as tmp:
        work = Path(tmp)
        result["embedding"] = bench_embedding(args.names, args.batch, args.rounds, args.backend)
        result["dump_parse"] = bench_dump(args.dump_pages, work)
        result["theta_sql"] = bench_theta(args.theta_entities, work)
        if not args.skip_build:
            result["snapshot_build"] = bench_snapshot_build(args.scheme, work)
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    args.json.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
