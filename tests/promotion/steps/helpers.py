"""Shared test helpers: a registry of the file-editing families, a step runner, a tree differ."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import pydantic

from kargo import errors
from kargo.promotion import context, registry
from kargo.promotion.steps import archives, files, helm, jsonfile, kustomize, tomlfile, yaml

FAMILIES = (yaml, jsonfile, tomlfile, files, archives, kustomize, helm)

# Kargo's reference material (shared/reference beside the repository); KARGO_REFERENCE_DIR
# overrides it, as for tests/server/quickstart.py.
REFERENCE = Path(
    os.environ.get("KARGO_REFERENCE_DIR")
    or Path(__file__).resolve().parents[4] / "shared" / "reference"
)


def make_registry() -> registry.StepRegistry:
    """A registry holding only the file-editing families."""
    reg = registry.StepRegistry()
    for family in FAMILIES:
        family.register(reg)
    return reg


REGISTRY = make_registry()


def make_ctx(
    work_dir: Path, freight: dict[str, dict[str, Any]] | None = None
) -> context.StepContext:
    """A StepContext for a step running in `work_dir`."""
    return context.StepContext(
        work_dir=work_dir,
        project="kargo-demo",
        stage="test",
        promotion="test.01abc",
        alias="step-1",
        freight=context.FreightCollection(items=freight or {}),
    )


def validate(step: str, config: dict[str, Any]) -> pydantic.BaseModel:
    """The step's config model built from a manifest-shaped dict."""
    spec = REGISTRY.get(step)
    assert spec is not None, step
    return spec.config_model.model_validate(config)


def problems(step: str, config: dict[str, Any]) -> list[str]:
    """Validation problems for `config`, as `loc: message` strings (empty when valid)."""
    try:
        validate(step, config)
    except pydantic.ValidationError as err:
        return [
            f"{'.'.join(str(p) for p in e['loc']) or '(config)'}: {e['msg']}" for e in err.errors()
        ]
    return []


async def run_step(
    step: str, config: dict[str, Any], ctx: context.StepContext
) -> context.StepResult:
    """Validate `config` and run the step, as the engine would."""
    spec = REGISTRY.get(step)
    assert spec is not None, step
    return await spec.run(ctx, validate(step, config))


def _tree(root: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for dirpath, _dirs, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            out[path.relative_to(root).as_posix()] = path
    return out


def diff_trees(actual: Path, expected: Path) -> str:
    """A report of how two directory trees differ: files on one side only, and unified diffs.

    Empty when the trees are byte-for-byte equal. Line endings are shown (`\\r` visible), so a
    lost CRLF is reported rather than hidden.
    """
    got, want = _tree(actual), _tree(expected)
    report: list[str] = []
    for rel in sorted(set(want) - set(got)):
        report.append(f"only in expected: {rel}")
    for rel in sorted(set(got) - set(want)):
        report.append(f"only in actual: {rel}")
    for rel in sorted(set(got) & set(want)):
        a, b = got[rel].read_bytes(), want[rel].read_bytes()
        if a == b:
            continue
        try:
            a_lines = a.decode().replace("\r", "\\r").splitlines(keepends=True)
            b_lines = b.decode().replace("\r", "\\r").splitlines(keepends=True)
        except UnicodeDecodeError:
            report.append(f"binary files differ: {rel}")
            continue
        report.append(
            "".join(
                difflib.unified_diff(
                    b_lines, a_lines, fromfile=f"expected/{rel}", tofile=f"actual/{rel}"
                )
            )
        )
    return "\n".join(report)


def raises_terminal(exc: BaseException) -> bool:
    """Whether `exc` is a terminal step error."""
    return isinstance(exc, errors.TerminalStepError)
