"""The model card: a README.md in every trained model folder, saying what made the model and how it scored.

Written when a run finishes, so a folder copied elsewhere still tells its data, variant, backbone, priors build,
dev scores and the command that trained it.
"""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

CARD = "README.md"


def command_line() -> str:
    """The command that started this process, as a shell line (`typeprior ...` for the CLI)."""
    if not sys.argv:
        return ""
    first = "typeprior" if Path(sys.argv[0]).name == "typeprior" else sys.argv[0]
    return shlex.join([first, *sys.argv[1:]])


def card_text(spec: Any, training: Any, priors: Any, result: Any, run_id: int | None, warehouse: str | Path,
              sources: dict[str, str], counts: dict[str, int]) -> str:
    best = next((h for h in result.history if h["epoch"] == result.best_epoch), {})
    dev = ("–" if "dev_f1" not in best else
           f"P {100 * best['dev_p']:.2f} · R {100 * best['dev_r']:.2f} · F1 {100 * best['dev_f1']:.2f}")
    if priors is None:
        prior_line = "none (this variant has no entity type attention, or E_T was learned)"
    else:
        empty = f"; empty types (E_t = 0): {', '.join(priors.empty_types)}" if priors.empty_types else ""
        prior_line = (f"build {priors.build_id} of scheme `{priors.scheme}` (content hash "
                      f"`{priors.content_hash[:12]}`{empty})")
    data = "\n".join(f"| {split} | `{sources.get(split, '')}` | {counts.get(split, 0)} |" for split in sources)
    return f"""---
library_name: typeprior
tags: [ner, token-classification, typeprior, {spec.variant}]
---
# {spec.corpus} · {spec.variant} · {spec.backbone}

A typeprior model: BART pointer generation of entities (flat, nested and discontinuous) with the variant's
additions (Mo et al., "Multi-task Transformer with relation-attention and type-attention for NER").

| | |
|---|---|
| variant | `{spec.variant}` |
| backbone | `{spec.backbone}` |
| relation-loss weight w | {spec.relation_weight():g} |
| type priors | {prior_line} |
| seed | {spec.seed} |
| epochs | {len(result.history)} of {training.epochs} (best: epoch {result.best_epoch + 1}) |
| learning rates | backbone {training.lr_backbone:g}, new parts {training.lr_new:g} |
| dev scores (best epoch) | {dev} |
| warehouse run | {run_id} in `{warehouse}` |

## Data

| split | source | sentences |
|---|---|---|
{data}

## Made with

```bash
{command_line()}
```

## Use

```python
from typeprior.model.predict import Tagger

tagger = Tagger.load("{os.fspath(Path(spec.out_dir) / 'model')}")
tagger.predict("Ada Lovelace studied in London .")
```
"""


def write_model_card(folder: Path, spec: Any, training: Any, priors: Any, result: Any, run_id: int | None,
                     warehouse: str | Path, data: Any = None) -> Path:
    """Write README.md into the model folder, aside then renamed."""
    sources = dict(getattr(data, "sources", {}) or {})
    counts = {k: len(v) for k, v in (getattr(data, "splits", {}) or {}).items()}
    path = folder / CARD
    tmp = folder / f".{CARD}.tmp"
    tmp.write_text(card_text(spec, training, priors, result, run_id, warehouse, sources, counts), encoding="utf-8")
    os.replace(tmp, path)
    return path
