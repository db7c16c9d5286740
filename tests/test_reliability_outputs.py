"""Issue 17, outputs: every file output goes through model/safe_write.py, which refuses non-regular destinations,
follows a symlink to a regular file, and follows the umask."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from typeprior.flows.cli import app
from typeprior.model.safe_write import OutputError, write_text

runner = CliRunner()
RECORD = {"tokens": ["EU", "rejects"], "entities": [{"indices": [0], "type": "ORG"}]}


@pytest.fixture
def src(tmp_path: Path) -> Path:
    p = tmp_path / "in.jsonl"
    p.write_text(json.dumps(RECORD) + "\n")
    return p


def convert(src: Path, dst: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["data", "convert", str(src), str(dst), "--to", "bio"])
    return result.exit_code, result.output


def test_a_fifo_destination_is_refused_and_left_a_fifo(src: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code, out = convert(src, fifo)
    assert code == 2 and out.count("\n") == 1 and "FIFO" in out and str(fifo) in out
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_device_destination_is_refused(src: Path) -> None:
    code, out = convert(src, Path("/dev/null"))
    assert code == 2 and "character device" in out
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_directory_destination_is_refused(src: Path, tmp_path: Path) -> None:
    code, out = convert(src, tmp_path)
    assert code == 2 and "is a directory" in out


def test_a_symlink_to_a_regular_file_is_followed(src: Path, tmp_path: Path) -> None:
    real = tmp_path / "real.bio"
    real.write_text("old\n")
    link = tmp_path / "link.bio"
    link.symlink_to(real)
    code, out = convert(src, link)
    assert code == 0, out
    assert link.is_symlink() and real.read_text().startswith("EU\tB-ORG")


def test_a_symlink_loop_is_refused(src: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.symlink_to(b)
    b.symlink_to(a)
    code, out = convert(src, a)
    assert code == 2 and "loops" in out and out.count("\n") == 1


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_output_follows_the_umask(src: Path, tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        code, out = convert(src, tmp_path / "out.bio")
    finally:
        os.umask(old)
    assert code == 0, out
    assert stat.S_IMODE(os.stat(tmp_path / "out.bio").st_mode) == mode


def test_a_replaced_output_keeps_its_mode(tmp_path: Path) -> None:
    dst = tmp_path / "out.txt"
    dst.write_text("old")
    dst.chmod(0o640)
    write_text(dst, "new")
    assert dst.read_text() == "new" and stat.S_IMODE(dst.stat().st_mode) == 0o640


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    dst = tmp_path / "out.txt"
    dst.write_text("old")

    def chunks():
        yield "half"
        raise RuntimeError("stopped")

    with pytest.raises(RuntimeError):
        write_text(dst, chunks())
    assert dst.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_plots_and_reports_use_the_helper(tmp_path: Path) -> None:
    from typeprior.flows.evaluation import write_text as report_text
    from typeprior.flows.plots import learning_curve

    os.mkfifo(tmp_path / "report.md")
    with pytest.raises(OutputError, match="FIFO"):
        report_text(tmp_path / "report.md", "x")
    old = os.umask(0o022)
    try:
        png = learning_curve([{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": 0.5}], tmp_path / "c.png")
    finally:
        os.umask(old)
    assert png.read_bytes()[:4] == b"\x89PNG" and stat.S_IMODE(png.stat().st_mode) == 0o644
