"""Reference pages for promotion steps, generated from the registry: docs/steps/<step>.md.

The config table of each page is generated from the step's pydantic config model (its JSON
schema: field, type, required, default, description), so the model stays the single source of
truth. A family may add prose, outputs and an example through a module-level `DOCS` mapping
(`{"<step>": {"about": str, "outputs": {name: description}, "example": {...config...}}}`);
without one, the page shows the description from the step's docstring and an example built from
the required fields.

Only the block between the BEGIN/END markers is generated; text outside it is kept, so a page
can carry hand-written guides around its table.

    python -m kargo.promotion.docs --write   # regenerate docs/steps/
    python -m kargo.promotion.docs --check   # exit 1 if any page is missing or stale (CI)

Neighbours: kargo.promotion.registry (the steps), kargo.promotion.steps.load_builtin_steps.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from kargo.promotion import registry as reg

BEGIN = "<!-- BEGIN GENERATED: python -m kargo.promotion.docs --write; edit the config model -->"
END = "<!-- END GENERATED -->"
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "docs" / "steps"


# ---------------------------------------------------------------------------------------------
# the config table, from the JSON schema


@dataclass(frozen=True)
class Row:
    """One line of a config table."""

    field: str
    type: str
    required: bool
    default: str
    description: str


def _deref(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = defs[schema["$ref"].split("/")[-1]]
    return schema


def _non_null(schema: dict[str, Any]) -> dict[str, Any]:
    options = schema.get("anyOf")
    if options:
        rest = [o for o in options if o.get("type") != "null"]
        if len(rest) == 1:
            merged = {k: v for k, v in schema.items() if k != "anyOf"}
            return {**rest[0], **merged}
    return schema


def type_name(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    """A short type for the table: string, integer, []object, `a` \\| `b`, any."""
    schema = _deref(_non_null(schema), defs)
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    kind = schema.get("type")
    if kind == "array":
        return "[]" + type_name(schema.get("items", {}), defs)
    if kind == "object" or "properties" in schema:
        return "object"
    if isinstance(kind, str):
        return kind
    if "anyOf" in schema:
        return " \\| ".join(type_name(o, defs) for o in schema["anyOf"] if o.get("type") != "null")
    return "any"


def _default(schema: dict[str, Any]) -> str:
    if "default" not in schema or schema["default"] is None:
        return ""
    value = schema["default"]
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value in ("", [], {}):
        return ""
    return f"`{value}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def rows(schema: dict[str, Any], defs: dict[str, Any] | None = None, prefix: str = "") -> list[Row]:
    """The table rows for an object schema, nested objects and lists of objects flattened."""
    defs = defs if defs is not None else schema.get("$defs", {})
    schema = _deref(schema, defs)
    required = set(schema.get("required", []))
    out: list[Row] = []
    for name, prop in (schema.get("properties") or {}).items():
        field = prefix + name
        plain = _non_null(prop)
        out.append(
            Row(
                field=field,
                type=type_name(prop, defs),
                required=name in required,
                default=_default(plain),
                description=_cell(
                    plain.get("description") or _deref(plain, defs).get("description", "")
                ),
            )
        )
        target = _deref(plain, defs)
        if target.get("type") == "array":
            item = _deref(_non_null(target.get("items", {})), defs)
            if "properties" in item:
                out += rows(item, defs, f"{field}[].")
        elif "properties" in target:
            out += rows(target, defs, f"{field}.")
    return out


# ---------------------------------------------------------------------------------------------
# a page


def _family_docs(spec: reg.StepSpec) -> dict[str, Any]:
    module = sys.modules.get(getattr(spec.run, "__module__", ""), None)
    docs = getattr(module, "DOCS", {}) if module is not None else {}
    value = docs.get(spec.name, {}) if isinstance(docs, dict) else {}
    return value if isinstance(value, dict) else {}


def _placeholder(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    schema = _deref(_non_null(schema), defs)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "array":
        return [_placeholder(schema.get("items", {}), defs)]
    if kind == "object" or "properties" in schema:
        return {
            k: _placeholder(v, defs)
            for k, v in (schema.get("properties") or {}).items()
            if k in set(schema.get("required", []))
        }
    return {"integer": 1, "number": 1, "boolean": True}.get(str(kind), "...")


def _yaml(data: Any) -> str:
    import io

    yaml = YAML()
    yaml.indent(mapping=2, sequence=2, offset=0)
    yaml.width = 100
    buf = io.StringIO()
    yaml.dump(data, buf)
    return buf.getvalue()


def generated_block(spec: reg.StepSpec) -> str:
    """The generated part of a step's page."""
    schema = spec.config_model.model_json_schema(by_alias=True)
    defs = schema.get("$defs", {})
    extra = _family_docs(spec)
    lines = [BEGIN, f"# `{spec.name}`", ""]
    about = str(extra.get("about") or spec.description or schema.get("description") or "").strip()
    if about:
        lines += [about, ""]
    facts = []
    if spec.capabilities:
        facts.append("needs " + ", ".join(f"`{c.value}`" for c in sorted(spec.capabilities)))
    if spec.default_timeout:
        facts.append(f"default timeout {int(spec.default_timeout.total_seconds())}s")
    if spec.default_error_threshold != 1:
        facts.append(f"error threshold {spec.default_error_threshold}")
    if facts:
        lines += ["*" + "; ".join(facts) + "*", ""]

    table = rows(schema)
    lines += ["## Configuration", ""]
    if table:
        lines += [
            "| Field | Type | Required | Default | Description |",
            "|-------|------|----------|---------|-------------|",
        ]
        lines += [
            f"| `{r.field}` | {r.type} | {'yes' if r.required else 'no'} | {r.default} | "
            f"{r.description} |"
            for r in table
        ]
    else:
        lines.append(_cell(str(schema.get("description") or "Any object.")))
    lines.append("")

    outputs: dict[str, str] = extra.get("outputs") or {}
    lines += ["## Outputs", ""]
    if outputs:
        lines += ["| Name | Description |", "|------|-------------|"]
        lines += [f"| `{k}` | {_cell(v)} |" for k, v in outputs.items()]
    else:
        lines.append("None.")
    lines.append("")

    example = extra.get("example") or _placeholder(schema, defs)
    step: dict[str, Any] = {"uses": spec.name}
    if outputs:
        step["as"] = spec.name.split("-")[-1]
    step["config"] = example
    lines += ["## Example", "", "```yaml", "steps:", _yaml([step]).rstrip(), "```", END]
    return "\n".join(lines) + "\n"


def render_page(spec: reg.StepSpec, existing: str | None) -> str:
    """The page for `spec`: the generated block replaced inside `existing`, or alone."""
    block = generated_block(spec)
    if existing and BEGIN in existing and END in existing:
        head, rest = existing.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        return head + block.rstrip("\n") + tail
    return block


def render_index(specs: Iterable[reg.StepSpec]) -> str:
    """docs/steps/index.md: every step with its one-line description."""
    lines = [BEGIN, "# Promotion steps", "", "| Step | What it does |", "|------|--------------|"]
    for spec in specs:
        about = _cell(spec.description or "")
        lines.append(f"| [`{spec.name}`]({spec.name}.md) | {about} |")
    return "\n".join([*lines, END]) + "\n"


# ---------------------------------------------------------------------------------------------
# write / check


def expected_files(registry: reg.StepRegistry, out_dir: Path) -> dict[Path, str]:
    """Every generated file and the content it should have now."""
    files: dict[Path, str] = {}
    for spec in registry:
        path = out_dir / f"{spec.name}.md"
        existing = path.read_text(encoding="utf-8") if path.is_file() else None
        files[path] = render_page(spec, existing)
    index = out_dir / "index.md"
    existing = index.read_text(encoding="utf-8") if index.is_file() else None
    block = render_index(registry)
    if existing and BEGIN in existing and END in existing:
        head, rest = existing.split(BEGIN, 1)
        block = head + block.rstrip("\n") + rest.split(END, 1)[1]
    files[index] = block
    return files


def stale_files(registry: reg.StepRegistry, out_dir: Path) -> list[Path]:
    """Generated files that are missing or differ from what the registry says."""
    return [
        path
        for path, text in expected_files(registry, out_dir).items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]


def write(registry: reg.StepRegistry, out_dir: Path) -> list[Path]:
    """Regenerate the pages; returns those that changed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    changed = []
    for path, text in expected_files(registry, out_dir).items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def builtin_registry() -> reg.StepRegistry:
    """A registry with every built-in step family."""
    steps = importlib.import_module("kargo.promotion.steps")
    registry = reg.StepRegistry()
    steps.load_builtin_steps(registry)
    return registry


def main(argv: list[str] | None = None) -> int:
    """Command line: --write regenerates, --check exits 1 on drift."""
    parser = argparse.ArgumentParser(prog="python -m kargo.promotion.docs", description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate the pages")
    mode.add_argument("--check", action="store_true", help="exit 1 if a page is stale")
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR, help="output directory")
    args = parser.parse_args(argv)
    registry = builtin_registry()
    if args.write:
        for path in write(registry, args.out):
            print(f"wrote {path}")  # noqa: T201 - a command-line tool
        return 0
    stale = stale_files(registry, args.out)
    for path in stale:
        print(f"stale: {path}", file=sys.stderr)  # noqa: T201
    if stale:
        print("run: python -m kargo.promotion.docs --write", file=sys.stderr)  # noqa: T201
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
