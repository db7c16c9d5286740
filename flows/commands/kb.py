"""`typeprior kb`: build knowledge-base type priors from Wikipedia and inspect them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
import yaml
from rich.console import Console
from rich.table import Table

from .common import WarehouseOption, fail, resolve_warehouse

app = typer.Typer(no_args_is_help=True)


@app.command()
def build(
    scheme: str = typer.Option(..., "--scheme", "-s", help="Type scheme: a name (conll2003, genia, cadec, wnut17, "
                               "demo, or one in --schemes-dir) or a YAML file."),
    source: list[str] = typer.Option(["snapshot"], "--source", help="live, api:URL, dump:PATH or snapshot; "
                                     "repeat to combine sources."),
    warehouse: Path | None = WarehouseOption,
    model: Path | None = typer.Option(None, "--model", help="sentence-transformers model folder "
                                      "(default: the packaged all-MiniLM-L6-v2)."),
    schemes_dir: Path | None = typer.Option(None, "--schemes-dir", envvar="TYPEPRIOR_SCHEMES",
                                            help="Folder of extra scheme YAML files."),
    config: Path | None = typer.Option(None, "--config", help="YAML overriding kb/settings.yaml."),
    flow: bool = typer.Option(False, "--flow/--no-flow", help="Run as the Prefect flow build_type_priors "
                              "(concurrent live harvest, retried network tasks)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Harvest, type, weigh and embed entities per type; print the new build id."""
    from typeprior.kb.errors import KBError
    from typeprior.warehouse.errors import WarehouseError
    from typeprior.warehouse.signals import Terminated, terminate_like_interrupt

    path = resolve_warehouse(warehouse)
    try:
        with terminate_like_interrupt():
            build_id = _build(path, scheme, source, model, schemes_dir, config, flow, quiet)
    except (KBError, WarehouseError) as err:
        raise fail(err) from None
    except KeyboardInterrupt as err:
        signum = err.signum if isinstance(err, Terminated) else 2
        typer.echo(f"error: kb build {str(err) or 'interrupted'}; a build it started is marked failed (run again to resume)", err=True)
        raise typer.Exit(128 + signum) from None
    from typeprior.kb.store import KBStore

    with KBStore.open(path, read_only=True) as store:
        empty = [r["entity_type"] for r in store.type_vectors(build_id) if r["n_entities"] == 0]
    if empty:
        typer.echo(f"warning: build {build_id} found no entity of type(s) {', '.join(empty)}: their E_t is zero "
                   "(the model reads no prior for them)", err=True)
    typer.echo(build_id)


def _build(path: Path, scheme: str, source: list[str], model: Path | None, schemes_dir: Path | None,
           config: Path | None, flow: bool, quiet: bool) -> int:
    """Plan and run one build (in this process, or as the Prefect flow); its build id."""
    from typeprior.kb.build import plan_build, run_build
    from typeprior.kb.settings import load_settings

    settings = load_settings(config)
    if flow:
        from typeprior.flows.build_type_priors import build_type_priors
        from typeprior.flows.log_filters import quiet_typed_errors

        quiet_typed_errors()
        return int(build_type_priors(str(path), scheme, list(source), str(model) if model else None,
                                     str(schemes_dir) if schemes_dir else None, str(config) if config else None,
                                     progress=not quiet))
    plan = plan_build(scheme, list(source), settings, model, schemes_dir)
    return run_build(path, plan, progress=not quiet).build_id


@app.command()
def show(
    build: str = typer.Option("latest", "--build", "-b", help="Build id, or 'latest'."),
    scheme: str | None = typer.Option(None, "--scheme", "-s", help="With 'latest': the latest build of this scheme."),
    top: int = typer.Option(5, "--top", min=0, help="Top-weighted entities shown per type."),
    checks: bool = typer.Option(False, "--checks", help="Also the typing precision and recall per type, from the "
                                "scheme's hand-checked samples (kb/checks/<scheme>.yaml)."),
    warehouse: Path | None = WarehouseOption,
) -> None:
    """Types of a build with entity counts, top-weighted entities and the norm of E_t."""
    from typeprior.kb.errors import KBError
    from typeprior.kb.priors import resolve_build
    from typeprior.kb.store import KBStore
    from typeprior.warehouse.errors import WarehouseError

    console = Console()
    try:
        with KBStore.open(resolve_warehouse(warehouse), read_only=True) as store:
            row = resolve_build(store, build, scheme)
            build_id = int(row["build_id"])
            weights = store.weights(build_id)
            vectors = {r["entity_type"]: r for r in store.type_vectors(build_id)}
    except (KBError, WarehouseError) as err:
        raise fail(err) from None
    console.print(f"build {build_id}  scheme {row['scheme']}  sources {', '.join(row['sources'])}  "
                  f"model {row['model_id']}  finished {row['finished_at']:%Y-%m-%d %H:%M:%S}")
    console.print(f"content hash {row['content_hash']}")
    if any(source.startswith("snapshot:") for source in row["sources"]):
        from typeprior.kb.sources.snapshot import CREDIT

        console.print(CREDIT, style="dim")
    table = Table("type", "entities", "‖E_t‖", f"top {top} (θ)")
    groups = dict(iter(weights.groupby("entity_type", sort=True)))
    for entity_type in sorted(set(groups) | set(vectors)):
        group = groups.get(entity_type)
        if group is None:
            table.add_row(str(entity_type), "0", "0", "no entity found: E_t = 0, the model reads no prior for it")
            continue
        best = group.nlargest(top, "theta")
        tops = ", ".join(f"{n} ({t:.4f})" for n, t in zip(best["name"], best["theta"]))
        vec = vectors.get(entity_type)
        norm = f"{float(np.linalg.norm(np.asarray(vec['vector']))):.4f}" if vec else "-"
        table.add_row(str(entity_type), str(len(group)), norm, tops)
    console.print(table)
    if checks:
        _print_checks(console, str(row["scheme"]))


@app.command("draw-checks")
def draw_checks_command(
    out: Path = typer.Option(..., "--out", help="Check file to write (YAML), to judge by hand."),
    seed: int = typer.Option(..., "--seed", help="Seed of the draw (recorded in the file)."),
    scheme: str = typer.Option(..., "--scheme", "-s", help="The scheme whose latest build's typing is sampled."),
    per_type: int = typer.Option(50, "--per-type", min=1, help="Typed pages drawn per type."),
    untyped: int = typer.Option(200, "--untyped", min=0, help="Untyped pages drawn."),
    keep_judgements: bool = typer.Option(True, "--keep-judgements/--no-keep-judgements", help="Carry over the "
                                         "judgement of each page the packaged check file already judged."),
    judged_from: list[Path] = typer.Option([], "--judged-from", help="Other judged check files whose judgements "
                                           "carry over (repeatable; the first file to judge a page wins)."),
    warehouse: Path | None = WarehouseOption,
) -> None:
    """Draw new hand-check samples from the latest build's typing (after the rules change): items to judge are
    written judged: '?', and `kb show --checks` refuses the file until each is judged."""
    from typeprior.kb.checks import UNJUDGED, check_file, draw_checks, load_checks
    from typeprior.kb.errors import KBError
    from typeprior.kb.priors import resolve_build
    from typeprior.kb.schemes import load_scheme
    from typeprior.kb.store import KBStore
    from typeprior.model.safe_write import OutputError, write_text
    from typeprior.warehouse.errors import WarehouseError

    try:
        with KBStore.open(resolve_warehouse(warehouse), read_only=True) as store:
            row = resolve_build(store, "latest", scheme)
            if len(row["sources"]) != 1:
                raise KBError(f"build {row['build_id']} combines {len(row['sources'])} sources; checks sample one")
            source_key = row["sources"][0]
            rows = store.query("SELECT title, entity_type, evidence FROM kb_entities WHERE source_key = $s AND "
                               "scheme = $c", {"s": source_key, "c": row["scheme"]})
            titles = [r["title"] for r in store.query(
                "SELECT title FROM kb_raw_pages WHERE source_key = $s AND redirect_to IS NULL", {"s": source_key})]
        spec = load_scheme(str(row["scheme"]))
        packaged = check_file(spec.name) if keep_judgements else None
        previous = [load_checks(p) for p in [*judged_from, *([packaged] if packaged is not None else [])]]
    except (KBError, WarehouseError) as err:
        raise fail(err) from None
    typed: dict[str, dict[str, str]] = {t: {} for t in spec.type_names}
    for r in rows:
        typed[r["entity_type"]][r["title"]] = r["evidence"]
    held = {r["title"] for r in rows}
    data = draw_checks(typed, [t for t in titles if t not in held], spec.name, source_key, spec.fingerprint(), seed,
                       per_type, untyped, previous)
    header = (f"# Hand-check samples of the {spec.name} typing (kb/README.md, section Checks), drawn by "
              f"`typeprior kb draw-checks --seed {seed}`.\n# Replace every judged: '{UNJUDGED}' with the type the page "
              "should have (null: none of the scheme's types), then copy the file to kb/checks/.\n")
    try:
        write_text(out, header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120))
    except OutputError as err:
        raise fail(err) from None
    todo = sum(item["judged"] == UNJUDGED for item in data["items"])
    typer.echo(f"{out}: {len(data['items'])} items, {todo} to judge (judged: '{UNJUDGED}')")


def _print_checks(console: Console, scheme: str) -> None:
    """The check figures of a scheme, computed by kb/sql/check_figures.sql over its packaged samples."""
    from typeprior.kb.checks import check_file, compute_figures, load_checks
    from typeprior.kb.schemes import load_scheme

    path = check_file(scheme)
    if path is None:
        console.print(f"scheme {scheme} has no hand-checked samples (kb/checks/{scheme}.yaml)")
        return
    sample = load_checks(path)
    console.print(f"typing checks: {path.name}, seed {sample.seed}, drawn from {sample.source_key}")
    if sample.scheme_fingerprint != load_scheme(scheme).fingerprint():
        console.print("warning: the scheme's rules changed since these samples were judged; the figures are stale",
                      style="yellow")
    table = Table("type", "typed", "precision (right/sampled)", "untyped judged this type", "recall (estimated)")
    for r in compute_figures(sample):
        table.add_row(str(r["entity_type"]), str(r["typed_pages"]),
                      f"{r['precision']:.1%} ({r['typed_right']}/{r['typed_sample']})",
                      f"{r['untyped_should_be']}/{r['untyped_sample']}",
                      f"{r['recall']:.1%}" if r["recall"] is not None else "-")
    console.print(table)
