"""The step reference pages in docs/steps/ are generated from the config models and current."""

from __future__ import annotations

from pydantic import BaseModel, Field

from kargo.promotion import docs, registry
from kargo.promotion.context import StepContext, StepResult
from tests.promotion.steps import helpers


def test_every_registered_step_has_a_current_reference_page():
    stale = docs.stale_files(docs.builtin_registry(), docs.DEFAULT_DIR)
    assert stale == [], "run: python -m kargo.promotion.docs --write"


def test_every_file_editing_step_has_a_page():
    for name in helpers.REGISTRY.names():
        page = docs.DEFAULT_DIR / f"{name}.md"
        assert page.is_file(), name
        assert "## Configuration" in page.read_text()


class _Item(BaseModel):
    key: str = Field(min_length=1, description="The key.")
    mode: str = Field(default="fast", description="How | fast.")


class _DemoConfig(BaseModel):
    path: str = Field(description="Where.")
    items: list[_Item] | None = Field(default=None, description="Things.")
    strict: bool = Field(default=False, description="Be strict.")


async def _demo(ctx: StepContext, cfg: _DemoConfig) -> StepResult:
    """Does a demo thing."""
    return StepResult()


def _registry() -> registry.StepRegistry:
    reg = registry.StepRegistry()
    reg.step("demo", _DemoConfig)(_demo)
    return reg


def test_the_config_table_is_generated_from_the_model():
    text = docs.generated_block(_registry().get("demo"))
    assert "Does a demo thing." in text
    assert "| `path` | string | yes |  | Where. |" in text
    assert "| `items` | []object | no |  | Things. |" in text
    assert "| `items[].key` | string | yes |  | The key. |" in text
    assert "| `items[].mode` | string | no | `fast` | How \\| fast. |" in text
    assert "| `strict` | boolean | no | `false` | Be strict. |" in text


def test_check_fails_on_drift_and_write_fixes_it(tmp_path, monkeypatch):
    monkeypatch.setattr(docs, "builtin_registry", _registry)
    assert docs.main(["--check", "--out", str(tmp_path)]) == 1  # missing
    assert docs.main(["--write", "--out", str(tmp_path)]) == 0
    assert docs.main(["--check", "--out", str(tmp_path)]) == 0
    page = tmp_path / "demo.md"
    page.write_text(page.read_text().replace("Where.", "Somewhere."))
    assert docs.main(["--check", "--out", str(tmp_path)]) == 1


def test_hand_written_text_around_the_generated_block_survives(tmp_path, monkeypatch):
    monkeypatch.setattr(docs, "builtin_registry", _registry)
    docs.main(["--write", "--out", str(tmp_path)])
    page = tmp_path / "demo.md"
    page.write_text("Intro.\n\n" + page.read_text() + "\n## Guide\n\nHand-written.\n")
    assert docs.main(["--check", "--out", str(tmp_path)]) == 0
    assert docs.main(["--write", "--out", str(tmp_path)]) == 0
    text = page.read_text()
    assert text.startswith("Intro.\n")
    assert text.endswith("## Guide\n\nHand-written.\n")
