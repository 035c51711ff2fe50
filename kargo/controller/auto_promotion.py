"""Auto-promotion: which ProjectConfig policy governs a Stage, and which Freight it promotes.

Kargo's rules (pkg/api/auto_promotion.go): the project's `promotionPolicies` are checked in order
and the first whose selector matches the Stage wins (`stage: <name>`, deprecated, or
`stageSelector`: `name` exact / `glob:<pattern>` / `regex:<re>` / `regexp:<re>`, ANDed with
`matchLabels` / `matchExpressions`). With `autoPromotionEnabled`, each requested origin's
candidate (`kargo.api.availability.auto_promotion_candidate`: NewestFreight or MatchUpstream over
*available* Freight) is promoted unless it is already current, a Promotion for it exists, or an
auto-promotion hold blocks the origin.

Our extension (Kargo #3519): a policy may set `freightFilter`, an expression over the Freight
(`freight`, plus `ctx.project` / `ctx.stage` and `semverParse`), e.g.
`${{ !any(freight.images, {#.tag contains "-"}) }}` to never auto-promote prerelease tags. Only
Freight for which it is true is considered; a filter that fails or is not a boolean stops
auto-promotion of that Stage with a message saying why.
"""

from __future__ import annotations

import fnmatch
import re
from datetime import datetime
from typing import Any

from kargo import clock as clock_mod, errors
from kargo.api import admission, availability
from kargo.controller import pipeline_state as ps
from kargo.expressions import artifacts, lang, templates
from kargo.store import interface

Obj = dict[str, Any]
API_VERSION = "kargo.akuity.io/v1alpha1"


def name_matches(pattern: str, name: str) -> bool:
    """Kargo's name patterns: exact, `glob:`, `regex:` / `regexp:` (unanchored, as Go's)."""
    if pattern.startswith("glob:"):
        return fnmatch.fnmatchcase(name, pattern[len("glob:") :])
    for prefix in ("regex:", "regexp:"):
        if pattern.startswith(prefix):
            try:
                return re.search(pattern[len(prefix) :], name) is not None
            except re.error:
                return False
    return pattern == name


def labels_match(selector: Obj, labels: dict[str, str]) -> bool:
    """A Kubernetes LabelSelector (`matchLabels` AND every `matchExpressions` item)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key = str(expr.get("key", ""))
        op = str(expr.get("operator", ""))
        values = [str(v) for v in expr.get("values") or []]
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def policy_matches(policy: Obj, stage: Obj) -> bool:
    """Whether one promotion policy selects the Stage."""
    name = str(stage["metadata"]["name"])
    if policy.get("stage"):
        return str(policy["stage"]) == name
    selector = policy.get("stageSelector")
    if selector is None:
        return False
    if selector.get("name") and not name_matches(str(selector["name"]), name):
        return False
    labels = dict((stage.get("metadata") or {}).get("labels") or {})
    return labels_match(selector, labels)


def find_policy(project_config: Obj | None, stage: Obj) -> Obj | None:
    """The first promotion policy selecting the Stage (first match wins), or None."""
    for policy in ((project_config or {}).get("spec") or {}).get("promotionPolicies") or []:
        if policy_matches(policy, stage):
            return dict(policy)
    return None


def filter_passes(expression: str, freight: Obj, stage: Obj) -> bool:
    """Evaluate a policy's `freightFilter` for one Freight; ExpressionError unless boolean."""
    env: dict[str, Any] = {
        "freight": freight,
        "ctx": {
            "project": stage["metadata"].get("namespace", ""),
            "stage": stage["metadata"]["name"],
        },
        "semverParse": artifacts.semver_parse,
        "semverDiff": artifacts.semver_diff,
    }
    text = expression.strip()
    if templates.contains_expression(text):
        result = templates.evaluate_string(text, env)
        if isinstance(result, str) and result.lower() in ("true", "false"):
            result = result.lower() == "true"
    else:
        result = lang.compile(text).run(env)
    if not isinstance(result, bool):
        raise errors.ExpressionError(
            f"freightFilter must evaluate to true or false, got {type(result).__name__} "
            f'{result!r}; e.g. ${{{{ !any(freight.images, {{#.tag contains "-"}}) }}}}'
        )
    return result


def filtered(policy: Obj | None, freights: list[Obj], stage: Obj) -> list[Obj]:
    """The Freight a policy lets auto-promotion consider (all without a `freightFilter`)."""
    expression = str((policy or {}).get("freightFilter") or "").strip()
    if not expression:
        return freights
    return [f for f in freights if filter_passes(expression, f, stage)]


def candidate(
    stage: Obj,
    request: Obj,
    freights: list[Obj],
    stages: dict[str, Obj],
    policy: Obj | None,
    now: datetime,
) -> Obj | None:
    """The Freight auto-promotion would promote for one requested origin, or None."""
    upstream = {
        s: stages[s] for s in (request.get("sources") or {}).get("stages") or [] if s in stages
    }
    return availability.auto_promotion_candidate(
        stage, request, filtered(policy, freights, stage), upstream, now
    )


def request_for(stage: Obj, origin: Obj) -> Obj | None:
    """The Stage's FreightRequest for an origin."""
    for request in (stage.get("spec") or {}).get("requestedFreight") or []:
        if availability.same_origin(request.get("origin") or {}, origin):
            return dict(request)
    return None


async def create_promotion(
    store: interface.Store,
    clock: clock_mod.Clock,
    stage: Obj,
    freight_name: str,
    *,
    actor: str,
    annotations: dict[str, str] | None = None,
    lookup: admission.Lookup,
) -> Obj:
    """Admit (name, steps, vars) and create a Promotion of Freight to the Stage."""
    obj: Obj = {
        "apiVersion": API_VERSION,
        "kind": "Promotion",
        "metadata": {
            "namespace": stage["metadata"]["namespace"],
            "name": "pending",
            "annotations": dict(annotations or {}),
        },
        "spec": {"stage": stage["metadata"]["name"], "freight": freight_name},
    }
    admitted = await admission.admit_create(obj, lookup, actor=actor, now=clock.now())
    return await store.create(admitted)


async def auto_promote(
    store: interface.Store,
    clock: clock_mod.Clock,
    stage: Obj,
    *,
    policy: Obj | None,
    freights: list[Obj],
    stages: dict[str, Obj],
    promotions: list[Obj],
    lookup: admission.Lookup,
) -> tuple[list[Obj], str]:
    """Create the Promotions auto-promotion calls for; returns them and a status message."""
    if ps.is_control_flow(stage) or not (policy or {}).get("autoPromotionEnabled"):
        return [], ""
    holds = (stage.get("status") or {}).get("autoPromotionHolds") or {}
    created: list[Obj] = []
    notes: list[str] = []
    now = clock.now()
    for request in (stage.get("spec") or {}).get("requestedFreight") or []:
        origin = request.get("origin") or {}
        key = availability.origin_key(origin)
        if key in holds:
            notes.append(
                f"auto-promotion of {key} is held by {holds[key].get('actor') or 'a user'}"
            )
            continue
        try:
            chosen = candidate(stage, request, freights, stages, policy, now)
        except errors.ExpressionError as err:
            notes.append(f"freightFilter: {err.message}")
            continue
        if chosen is None:
            continue
        name = str(chosen["metadata"]["name"])
        if availability.current_freight_in(stage, origin) == name:
            continue
        if any((p.get("spec") or {}).get("freight") == name for p in promotions):
            continue
        promo = await create_promotion(
            store, clock, stage, name, actor=ps.CONTROLLER_ACTOR, lookup=lookup
        )
        created.append(promo)
    return created, "; ".join(notes)
