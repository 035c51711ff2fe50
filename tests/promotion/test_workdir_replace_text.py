"""workdir.replace_text: edits land whole or not at all, and leave nothing behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kargo.promotion import workdir


@pytest.fixture
def work(tmp_path: Path) -> Path:
    work_dir = tmp_path / "promotions" / "p1"
    (work_dir / "out").mkdir(parents=True)
    return work_dir


def _leftovers(work: Path) -> list[str]:
    return sorted(p.name for p in work.parent.rglob("*kargo-edit*"))


def test_an_edit_replaces_the_file_keeping_its_mode_and_crlf(work: Path):
    target = work / "out" / "values.yaml"
    target.write_bytes(b"a: 1\r\n")
    os.chmod(target, 0o640)
    workdir.replace_text(work, target, "a: 2\r\nb: 3\r\n")
    assert target.read_bytes() == b"a: 2\r\nb: 3\r\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert _leftovers(work) == []


def test_a_failed_edit_leaves_the_old_file_whole_and_no_temporary_file(work: Path):
    target = work / "out" / "values.yaml"
    target.write_text("a: 1\n")
    with pytest.raises(UnicodeEncodeError):
        workdir.replace_text(work, target, "a: 2\n" + "\udcff" * 10)  # fails mid-write
    assert target.read_text() == "a: 1\n"
    assert _leftovers(work) == []


def test_an_edit_through_a_symlink_changes_the_target_not_the_link(work: Path):
    (work / "out" / "real.yaml").write_text("a: 1\n")
    link = work / "out" / "link.yaml"
    link.symlink_to("real.yaml")
    workdir.replace_text(work, link, "a: 2\n")
    assert link.is_symlink()
    assert (work / "out" / "real.yaml").read_text() == "a: 2\n"


def test_a_new_file_is_created(work: Path):
    target = work / "out" / "new.yaml"
    workdir.replace_text(work, target, "x: y\n")
    assert target.read_text() == "x: y\n"
    assert _leftovers(work) == []
