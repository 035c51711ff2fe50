"""Offline lint: references between manifests and upstream cycles."""

from __future__ import annotations

from pathlib import Path

from kargo.api import lint, manifests
from tests.api.lookups import API, project, stage, warehouse
from tests.api.test_manifest_loading import EXAMPLES, _substitute


def _lint(*objs):
    return lint.lint([("m.yaml", o) for o in objs])


def test_a_complete_project_has_no_problems():
    assert _lint(project(), warehouse(), stage("test"), stage("uat", upstream=["test"])) == []


def test_kargo_examples_lint_clean():
    for path in sorted(EXAMPLES.glob("*.yaml")):
        docs = manifests.load_documents(_substitute(path.read_text()), str(path))
        assert lint.lint([(str(path), d) for d in docs]) == [], path


def test_missing_warehouse_upstream_task_and_template_are_reported():
    s = stage("uat", upstream=["test"], warehouse_name="nope", steps=[{"task": {"name": "t"}}])
    s["spec"]["verification"] = {"analysisTemplates": [{"name": "smoke"}]}
    got = _lint(project(), warehouse(), s)
    assert [(p.path, p.message) for p in got] == [
        (
            "spec.requestedFreight[0].origin.name",
            "Stage 'uat': Warehouse 'nope' is not defined in project 'p'",
        ),
        (
            "spec.requestedFreight[0].sources.stages[0]",
            "Stage 'uat': upstream Stage 'test' is not defined in project 'p'",
        ),
        (
            "spec.promotionTemplate.spec.steps[0].task.name",
            "Stage 'uat': PromotionTask 't' is not defined in project 'p'",
        ),
        (
            "spec.verification.analysisTemplates[0].name",
            "Stage 'uat': AnalysisTemplate 'smoke' is not defined",
        ),
    ]
    assert all(p.file == "m.yaml" and p.hint for p in got)


def test_cluster_promotion_tasks_resolve_across_projects():
    task = {
        "apiVersion": API,
        "kind": "ClusterPromotionTask",
        "metadata": {"name": "t"},
        "spec": {"steps": [{"uses": "fail"}]},
    }
    s = stage("test", steps=[{"task": {"name": "t", "kind": "ClusterPromotionTask"}}])
    assert _lint(project(), warehouse(), task, s) == []


def test_a_cycle_is_reported_once_and_named():
    got = _lint(
        warehouse(),
        stage("a", upstream=["c"]),
        stage("b", upstream=["a"]),
        stage("c", upstream=["b"]),
    )
    assert [p.message for p in got] == ["Stage 'a': upstream stages form a cycle: a -> c -> b -> a"]


def test_a_promotion_naming_a_missing_stage_is_reported():
    promo = {
        "apiVersion": API,
        "kind": "Promotion",
        "metadata": {"name": "x", "namespace": "p"},
        "spec": {"stage": "prod", "freight": "abc"},
    }
    [problem] = _lint(warehouse(), stage("test"), promo)
    assert problem.path == "spec.stage"
    assert "Stage 'prod' is not defined" in problem.message


def test_invalid_objects_are_reported_with_their_file():
    bad = warehouse()
    bad["spec"]["interval"] = "never"
    [problem] = lint.lint([(str(Path("w.yaml")), bad)])
    assert (problem.file, problem.path) == ("w.yaml", "spec.interval")
    assert problem.message.startswith("Warehouse 'w': ")
