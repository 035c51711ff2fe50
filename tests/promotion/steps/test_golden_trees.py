"""Golden before/after trees for every file-editing step: tests/golden/<step>/<case>/.

Each case holds `config.yaml` (the step's config), `input/` (the work directory before),
`expected/` (after), and optionally `freight.yaml` (Freight by origin) and `output.yaml` (the
step's expected output). Run with KARGO_UPDATE_GOLDEN=1 to rewrite `expected/` after a
deliberate change, then review the diff.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.promotion.steps import helpers

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
CASES = sorted(p for p in GOLDEN.glob("*/*") if (p / "config.yaml").is_file())
LOCK_TIME = '"2000-01-01T00:00:00Z"'  # Chart.lock's `generated`, fixed for comparison
# a checkout's files carry the time of the clone; Helm packages `file://` charts with them
INPUT_MTIME = 946_684_800  # 2000-01-01


def _load(path: Path):
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
async def test_step_turns_input_tree_into_expected_tree(case: Path, tmp_path: Path):
    step = case.parent.name
    work = tmp_path / "work"
    shutil.copytree(case / "input", work, symlinks=True)
    for path in [work, *work.rglob("*")]:
        os.utime(path, (INPUT_MTIME, INPUT_MTIME), follow_symlinks=False)
    freight = _load(case / "freight.yaml") if (case / "freight.yaml").is_file() else None
    result = await helpers.run_step(
        step, _load(case / "config.yaml"), helpers.make_ctx(work, freight)
    )
    for lock in work.rglob("Chart.lock"):  # Helm stamps each lock it writes with the time
        text = lock.read_text(encoding="utf-8")
        lock.write_text(re.sub(r"(?m)^generated: .*$", f"generated: {LOCK_TIME}", text))

    if os.environ.get("KARGO_UPDATE_GOLDEN") == "1":
        shutil.rmtree(case / "expected", ignore_errors=True)
        shutil.copytree(work, case / "expected", symlinks=True)
    report = helpers.diff_trees(work, case / "expected")
    assert report == "", f"{case.relative_to(GOLDEN)}:\n{report}"
    if (case / "output.yaml").is_file():
        assert result.output == _load(case / "output.yaml")


def test_every_file_editing_step_has_golden_cases():
    covered = {c.parent.name for c in CASES}
    assert {
        "yaml-update",
        "kustomize-set-image",
        "json-update",
        "toml-update",
        "yaml-merge",
        "helm-update-chart",
    } <= covered
