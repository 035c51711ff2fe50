"""JSON schemas of every kind, generated from the pydantic models and checked in under schemas/.

    python -m kargo.api.schemas --write    # regenerate schemas/<kind>.json
    python -m kargo.api.schemas --check    # exit 1 when the checked-in files drift

The models are the single source of truth; the schemas serve editors (yaml-language-server),
the API's OpenAPI and the docs. A test runs `--check` so drift fails CI.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kargo.api import kinds

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "schemas"


def schema_for(kind: str) -> dict[str, Any]:
    """The JSON schema of one kind's objects (camelCase field names, as users write them)."""
    info = kinds.KINDS[kind]
    schema = info.model.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = kind
    schema.setdefault("x-kargo", {}).update(
        {"apiVersion": info.api_version, "namespaced": info.namespaced, "plural": info.plural}
    )
    return schema


def render(kind: str) -> str:
    """The file text for one kind: stable key order, two-space indent, trailing newline."""
    return json.dumps(schema_for(kind), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def filename(kind: str) -> str:
    """`Warehouse` -> `warehouse.json`."""
    return f"{kind.lower()}.json"


def write(directory: Path = DEFAULT_DIR) -> list[Path]:
    """Regenerate every schema file; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in sorted(kinds.KINDS):
        path = directory / filename(kind)
        path.write_text(render(kind), encoding="utf-8")
        written.append(path)
    return written


def drift(directory: Path = DEFAULT_DIR) -> list[str]:
    """Files that are missing, stale or unexpected (empty when everything is up to date)."""
    problems = []
    expected = {filename(kind): kind for kind in kinds.KINDS}
    for name, kind in sorted(expected.items()):
        path = directory / name
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_text(encoding="utf-8") != render(kind):
            problems.append(f"{path}: out of date")
    if directory.exists():
        for path in sorted(directory.glob("*.json")):
            if path.name not in expected:
                problems.append(f"{path}: no kind of that name")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m kargo.api.schemas", description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate the schema files")
    mode.add_argument("--check", action="store_true", help="exit 1 when the files drift")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="schema directory")
    args = parser.parse_args(argv)
    if args.write:
        for path in write(args.dir):
            sys.stdout.write(f"wrote {path}\n")
        return 0
    stale = drift(args.dir)
    for line in stale:
        sys.stderr.write(line + "\n")
    if stale:
        sys.stderr.write("run: python -m kargo.api.schemas --write\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
