"""One table per rule of the models: object -> expected (path, message) problems."""

from __future__ import annotations

import copy

import pytest

from kargo import errors
from kargo.api import manifests

API = "kargo.akuity.io/v1alpha1"


def _obj(kind, spec=None, *, api=API, name="x", ns="p", **top):
    meta = {"name": name}
    if ns:
        meta["namespace"] = ns
    obj = {"apiVersion": api, "kind": kind, "metadata": meta, **top}
    if spec is not None:
        obj["spec"] = spec
    return obj


def _wh(*subs):
    return _obj("Warehouse", {"subscriptions": list(subs)})


def _stage(request=None, **spec):
    req = request or {"origin": {"kind": "Warehouse", "name": "w"}, "sources": {"direct": True}}
    return _obj("Stage", {"requestedFreight": [req], **spec})


def _task(*steps, kind="PromotionTask"):
    return _obj(kind, {"steps": list(steps)}, ns="" if kind.startswith("Cluster") else "p")


def _analysis(*metrics, args=None):
    spec = {"metrics": list(metrics)}
    if args is not None:
        spec["args"] = args
    return _obj("AnalysisTemplate", spec, api="argoproj.io/v1alpha1")


WEB = {"name": "m", "provider": {"web": {"url": "http://x"}}}

CASES = [
    # Warehouse subscriptions
    (_wh({"image": {"repo_url": "nginx"}}), "spec.subscriptions[0].image.repo_url", "'repoURL'"),
    (_wh({"image": {"repoURL": "nginx", "platform": "linux"}}), "image.platform", "platform"),
    (
        _wh({"image": {"repoURL": "nginx", "allowTagsRegexes": ["(unclosed"]}}),
        "image.allowTagsRegexes",
        "not a valid regular expression",
    ),
    (_wh({"image": {"repoURL": "nginx", "constraint": "^^1"}}), "image.constraint", "constraint"),
    (
        _wh(
            {
                "image": {
                    "repoURL": "nginx",
                    "constraint": "latest",
                    "imageSelectionStrategy": "Lexical",
                }
            }
        ),
        None,
        None,
    ),
    (_wh({"git": {"repoURL": "ftp://host/repo"}}), "git.repoURL", "not a valid git repository"),
    (_wh({"git": {"repoURL": "git@github.com:acme/repo.git"}}), None, None),
    (
        _wh({"git": {"repoURL": "https://github.com/a/b", "commitSelectionStrategy": "Newest"}}),
        "git.commitSelectionStrategy",
        "not allowed",
    ),
    (
        _wh({"chart": {"repoURL": "oci://ghcr.io/a/c", "name": "c"}}),
        "subscriptions[0].chart",
        "must be empty for an oci://",
    ),
    (_wh({"chart": {"repoURL": "ftp://x", "name": "c"}}), "chart.repoURL", "chart repository"),
    (_wh({"custom": {"anything": 1}}), "subscriptions[0]", "needs a name"),
    (_wh({"name": "c", "custom": {"anything": 1, "discoveryLimit": 3}}), None, None),
    (_wh({"name": "c", "custom": "scalar"}), "subscriptions[0]", "must be an object"),
    (
        _wh({"image": {"repoURL": "a"}, "git": {"repoURL": "https://x/y"}}),
        "subscriptions[0]",
        "exactly one type",
    ),
    (_wh(), "spec.subscriptions", "at least 1 item"),
    (
        _wh({"image": {"repoURL": "nginx"}}, {"image": {"repoURL": "nginx"}}),
        "spec",
        "appears more than once",
    ),
    # Stage
    (
        _stage(
            {
                "origin": {"kind": "Warehouse", "name": "w"},
                "sources": {
                    "stages": ["a", "b"],
                    "autoPromotionOptions": {"selectionPolicy": "MatchUpstream"},
                },
            }
        ),
        "sources",
        "MatchUpstream needs exactly one upstream",
    ),
    (
        _stage({"origin": {"kind": "Bucket", "name": "w"}, "sources": {"direct": True}}),
        "origin.kind",
        "not allowed",
    ),
    (
        _stage({"origin": {"name": "w"}, "sources": {"direct": True, "requiredSoakTime": "1d"}}),
        "requiredSoakTime",
        "not a valid duration",
    ),
    (
        _obj(
            "Stage",
            {
                "requestedFreight": [
                    {"origin": {"name": "w"}, "sources": {"direct": True}},
                    {"origin": {"name": "w"}, "sources": {"stages": ["a"]}},
                ]
            },
        ),
        "spec",
        "requested more than once",
    ),
    (
        _stage(verification={"analysisTemplates": [{"name": "t", "kind": "Template"}]}),
        "analysisTemplates[0].kind",
        "not allowed",
    ),
    (
        _stage(promotionTemplate={"spec": {"steps": [{"uses": "x", "config": "str"}]}}),
        "config",
        "dictionary",
    ),
    # PromotionTask
    (_task({"task": {"name": "inner"}}), "spec", "tasks cannot be nested"),
    (_task(), "spec.steps", "at least 1 item"),
    (_task({"uses": "http"}, kind="ClusterPromotionTask"), None, None),
    # Promotion
    (_obj("Promotion", {"stage": "s"}), "spec", "exactly one of freight or origin"),
    (_obj("Promotion", {"freight": "f"}), "spec.stage", "'stage' is required"),
    # Freight
    (
        _obj("Freight", name="", origin={"name": "w"}, images=[{"tag": "1"}]),
        "images[0].repoURL",
        "required",
    ),
    (
        _obj("Freight", name="", origin={"name": "w"}, images=[{"repoURL": "n"}], alias="-bad"),
        "alias",
        "not a valid alias",
    ),
    # ProjectConfig / ClusterConfig
    (
        _obj("ProjectConfig", {"webhookReceivers": [{"name": "r"}]}),
        "webhookReceivers[0]",
        "exactly one provider",
    ),
    (
        _obj(
            "ClusterConfig",
            {
                "webhookReceivers": [
                    {
                        "name": "r",
                        "github": {"secretRef": {"name": "s"}},
                        "quay": {"secretRef": {"name": "s"}},
                    }
                ]
            },
            ns="",
        ),
        "webhookReceivers[0]",
        "found 2 (github, quay)",
    ),
    (_obj("ClusterConfig", {"gitClient": {"name": "bot"}}, ns=""), "gitClient.email", "required"),
    (_obj("Project", name="Not_Valid", ns=""), "metadata.name", "not a valid name"),
    (_obj("Project", name="a" * 64, ns=""), "", "must be a valid namespace name"),
    # AnalysisTemplate
    (_analysis({"name": "m", "provider": {}}), "metrics[0].provider", "exactly one provider"),
    (_analysis({**WEB, "interval": "often"}), "metrics[0].interval", "not a valid duration"),
    (_analysis({**WEB, "interval": "30s", "count": 3, "failureLimit": "{{args.x}}"}), None, None),
    (_analysis(WEB, WEB), "spec", "metric names must be unique"),
    (
        _analysis(
            WEB, args=[{"name": "a", "value": "1", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}]
        ),
        "args[0]",
        "both value and valueFrom",
    ),
    (_analysis({**WEB, "provider": {"datadog": {}}}), "provider.datadog", "unknown field"),
    # Secret / ConfigMap
    (_obj("Secret", api="v1", data={"k": "dmFsdWU="}, stringData={"u": "x"}), None, None),
    (_obj("ConfigMap", api="v1", data={"k": 1}), "data.k", "string"),
]


@pytest.mark.parametrize(("obj", "path", "message"), CASES)
def test_model_rules(obj, path, message):
    original = copy.deepcopy(obj)
    if path is None:
        manifests.validate(obj)
        return
    with pytest.raises(errors.ValidationError) as caught:
        manifests.validate(obj)
    found = [p for p in caught.value.problems if path in p.path]
    assert found, [str(p) for p in caught.value.problems]
    assert any(message in f"{p.message} {p.hint}" for p in found), [str(p) for p in found]
    assert obj == original, "validation never modifies its input"
