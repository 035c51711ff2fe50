"""Argo Rollouts-style `{{args.name}}` substitution in AnalysisTemplate metrics.

Analysis templates are Argo Rollouts manifests, so their placeholders are Argo's, not Kargo's
`${{ }}`; Kargo evaluates its own expressions in the Stage's `verification.args` first and passes
the results here as plain strings.
"""

from __future__ import annotations

import re
from typing import Any

from kargo.errors import ValidationError

_ARG = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}")


def resolve_args(declared: list[dict[str, Any]], supplied: dict[str, str]) -> dict[str, str]:
    """Values for every declared argument: supplied ones win over template defaults.

    A declared argument with neither a supplied value nor a default is an error naming it.
    """
    values: dict[str, str] = {}
    missing: list[str] = []
    for arg in declared:
        name = str(arg.get("name", ""))
        if name in supplied:
            values[name] = supplied[name]
        elif arg.get("value") is not None:
            values[name] = str(arg["value"])
        else:
            missing.append(name)
    for name, value in supplied.items():
        values.setdefault(name, value)
    if missing:
        raise ValidationError(
            f"analysis argument(s) {', '.join(repr(m) for m in missing)} have no value: "
            "set them in the Stage's spec.verification.args or give the template a default"
        )
    return values


def substitute(value: Any, args: dict[str, str]) -> Any:
    """`value` with every `{{args.x}}` replaced, recursively through dicts and lists."""
    if isinstance(value, str):

        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in args:
                raise ValidationError(
                    f"analysis template refers to {{{{args.{name}}}}}, which is not declared"
                )
            return args[name]

        return _ARG.sub(repl, value)
    if isinstance(value, dict):
        return {k: substitute(v, args) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, args) for v in value]
    return value
