"""bench/begin_end_recovery.py: one row per model × arm × dev set, resumable, and refused for a model that
predicts no relations."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import begin_end_recovery  # noqa: E402

from typeprior.model.predict import Tagger

TYPES = ["LOC", "MISC", "ORG", "PER"]


def test_rows_for_both_arms_and_sets_then_resumed(tmp_path: Path, shared_data: Path) -> None:
    Tagger.from_backbone("tiny-random", TYPES, variant="rp-tra").save(tmp_path / "m")
    Tagger.from_backbone("tiny-random", TYPES, variant="baseline").save(tmp_path / "b")
    out = tmp_path / "rows.json"
    args = ["run", "--corpus", "conll2003", "--model", f"tiny={tmp_path / 'm'}", "--confirm-n", "20",
            "--out", str(out), "--threads", "1"]
    runner = CliRunner()
    result = runner.invoke(begin_end_recovery.app, args)
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())
    assert {(r["recovery"], r["set"]) for r in rows} == {(a, s) for a in (False, True) for s in ("tune", "confirm")}
    assert {r["sentences"] for r in rows if r["set"] == "confirm"} == {20}
    for on in (r for r in rows if r["recovery"]):  # recovery only adds entities
        off = next(r for r in rows if not r["recovery"] and r["set"] == on["set"])
        assert on["predicted"] >= off["predicted"] and on["tp"] >= off["tp"]
    assert runner.invoke(begin_end_recovery.app, args).output == ""  # every row is there: nothing decoded again
    table = runner.invoke(begin_end_recovery.app, ["table", str(out)])
    assert table.exit_code == 0 and "| conll2003 | tiny | tune |" in table.output
    bad = runner.invoke(begin_end_recovery.app, [*args[:4], f"b={tmp_path / 'b'}", *args[5:]])
    assert bad.exit_code != 0 and "predicts no relations" in bad.output
