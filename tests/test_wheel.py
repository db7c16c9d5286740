"""One package: the wheel installs `typeprior` alone (no top-level model, flows, kb or warehouse), with its
package data, and its CLI runs from outside the checkout."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = '{"tokens": ["Alan", "Turing", "visited", "Oslo", "."], "entities": [{"type": "PER", "indices": [0, 1]}]}\n'


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    source = out / "source"  # a copy: building in the checkout would leave build/ there
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "runs", "bench", "tests",
                                                                "*.duckdb", "__pycache__", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(source)], check=True, capture_output=True, text=True, timeout=600)
    (found,) = out.glob("typeprior-*.whl")
    return found


def test_the_wheel_holds_one_top_level_package_and_its_data(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"typeprior"}
    for data in ("typeprior/model/training.yaml", "typeprior/model/variants.yaml", "typeprior/kb/settings.yaml",
                 "typeprior/kb/sql/theta.sql", "typeprior/flows/defaults.yaml", "typeprior/flows/demo/train.jsonl",
                 "typeprior/warehouse/settings.yaml"):
        assert data in names, data
    assert any(n.startswith("typeprior/warehouse/schema/") and n.endswith(".sql") for n in names)


def test_the_installed_cli_runs_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    """The wheel in a fresh venv that sees this one's dependencies (not the checkout), run from elsewhere."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False, system_site_packages=False)
    py = env_dir / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    deps = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (Path(site) / "deps.pth").write_text("\n".join(deps) + "\n")  # dependencies only: the editable finder is a .pth
    with zipfile.ZipFile(wheel) as zf:                             # hook that reads no deps.pth, and is not copied
        zf.extractall(site)
    corpus = tmp_path / "mine.jsonl"
    corpus.write_text(DEMO)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run([str(py), "-c", "import typeprior.model, sys; print(typeprior.model.__file__); "
                            "print(all(m not in sys.modules for m in ('model', 'flows', 'kb', 'warehouse')))"],
                           cwd=tmp_path, env=env, check=True, capture_output=True, text=True).stdout.split()
    assert where[0].startswith(site) and where[1] == "True"
    stats = subprocess.run([str(py), "-m", "typeprior.flows.cli", "data", "stats", str(corpus)], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
    assert stats.returncode == 0, stats.stderr
    assert '"sentences": 1' in stats.stdout
