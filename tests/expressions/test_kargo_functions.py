"""Kargo's functions over promotion data, discovered artifacts and step metadata."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import pytest

from kargo.errors import ExpressionError
from kargo.expressions import functions, lang, templates

GIT = "https://github.com/acme/app.git"
IMAGE = "ghcr.io/acme/api"


class Data:
    """An in-memory PromotionData."""

    def __init__(self) -> None:
        self.collection: dict[str, dict[str, Any]] = {
            "Warehouse/w1": {
                "origin": {"kind": "Warehouse", "name": "w1"},
                "commits": [{"repoURL": GIT, "id": "abc123", "branch": "main", "message": "fix"}],
                "images": [
                    {
                        "repoURL": IMAGE,
                        "tag": "1.2.3",
                        "digest": "sha256:aa",
                        "annotations": {"k": "v"},
                    }
                ],
                "charts": [
                    {"repoURL": "oci://ghcr.io/acme/charts/app", "name": "", "version": "0.1.0"}
                ],
                "artifacts": [
                    {
                        "artifactType": "blob",
                        "subscriptionName": "cfg",
                        "version": "v9",
                        "metadata": {"x": 1},
                    }
                ],
            },
            "Warehouse/w2": {
                "origin": {"kind": "Warehouse", "name": "w2"},
                "images": [{"repoURL": IMAGE, "tag": "2.0.0"}],
                "charts": [
                    {"repoURL": "https://charts.acme.io", "name": "app", "version": "3.0.0"}
                ],
            },
        }
        self.origins = ["Warehouse/w1"]
        self.warehouses = {
            "w1": {
                "spec": {
                    "subscriptions": [
                        {"git": {"repoURL": "https://github.com/acme/app"}},
                        {"image": {"repoURL": IMAGE}},
                        {"chart": {"repoURL": "oci://ghcr.io/acme/charts/app"}},
                    ]
                }
            },
            "w2": {
                "spec": {
                    "subscriptions": [
                        {"image": {"repoURL": IMAGE}},
                        {"chart": {"repoURL": "https://charts.acme.io", "name": "app"}},
                    ]
                }
            },
        }
        self.objects = {
            ("freight", "f1"): {"status": {"metadata": {"approved-by": "ann"}, "currentlyIn": {}}},
            ("stage", "prod"): {"status": {"metadata": {"ticket": 42}}},
            ("cm", "settings"): {"data": {"region": "eu"}},
            ("secret", "creds"): {"data": {"token": base64.b64encode(b"s3cr3t").decode()}},
            ("shared-cm", "global"): {"data": {"org": "acme"}},
            ("shared-secret", "generic"): {
                "metadata": {"labels": {"kargo.akuity.io/cred-type": "generic"}},
                "stringData": {"k": "v"},
            },
            ("shared-secret", "repo"): {
                "metadata": {"labels": {"kargo.akuity.io/cred-type": "git"}},
                "stringData": {"password": "no"},
            },
        }

    def freight_collection(self) -> Mapping[str, Mapping[str, Any]]:
        return self.collection

    def requested_origins(self) -> list[str]:
        return self.origins

    def warehouse(self, name: str):
        return self.warehouses.get(name)

    def freight(self, name: str):
        return self.objects.get(("freight", name))

    def stage(self, name: str):
        return self.objects.get(("stage", name))

    def config_map(self, name: str):
        return self.objects.get(("cm", name))

    def secret(self, name: str):
        return self.objects.get(("secret", name))

    def shared_config_map(self, name: str):
        return self.objects.get(("shared-cm", name))

    def shared_secret(self, name: str):
        return self.objects.get(("shared-secret", name))


def env_for(data: Data, metas: list | None = None, alias: str = "step-3") -> dict:
    fns = {**functions.promotion_functions(data), **functions.status_functions(alias, metas or [])}
    return functions.build_promotion_env(
        {"project": "demo", "stage": "prod"}, {"v": 1}, {"clone": {"commit": "c1"}}, None, {}, fns
    )


def run(source: str, data: Data | None = None, **kw):
    return lang.compile(source).run(env_for(data or Data(), **kw))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("commitFrom('https://github.com/acme/app').ID", "abc123"),
        ("commitFrom('https://GitHub.com/acme/app.git/').Branch", "main"),
        ("commitFrom('https://github.com/acme/app').Message", "fix"),
        ("commitFrom('https://github.com/acme/app').Tag", ""),
        ("commitFrom('https://github.com/acme/other')", None),
        ("commitFrom('https://github.com/acme/other')?.ID", None),
        ("imageFrom('ghcr.io/acme/api').Tag", "1.2.3"),
        ("imageFrom('ghcr.io/acme/api').Digest", "sha256:aa"),
        ("imageFrom('ghcr.io/acme/api').RepoURL", IMAGE),
        ("imageFrom('ghcr.io/acme/api').Annotations.k", "v"),
        ("imageFrom('ghcr.io/acme/api', warehouse('w2')).Tag", "2.0.0"),
        ("imageFrom('GHCR.io/acme/api')", None),  # exact repoURL match
        ("chartFrom('oci://ghcr.io/acme/charts/app').Version", "0.1.0"),
        ("chartFrom('https://charts.acme.io', 'app', warehouse('w2')).Version", "3.0.0"),
        ("artifactFrom('cfg').Version", "v9"),
        ("artifactFrom('cfg').Metadata.x", 1),
        ("artifactFrom('cfg').ArtifactType", "blob"),
        ("artifactFrom('nope')", None),
        ("warehouse('w1').Name", "w1"),
        ("warehouse('w1').Kind", "Warehouse"),
        ("freightMetadata('f1')['approved-by']", "ann"),
        ("freightMetadata('missing')", None),
        ("freightStatus('f1').metadata['approved-by']", "ann"),
        ("stageMetadata('prod').ticket", 42),
        ("configMap('settings').region", "eu"),
        ("configMap('missing')", {}),
        ("secret('creds').token", "s3cr3t"),
        ("sharedConfigMap('global').org", "acme"),
        ("sharedSecret('generic').k", "v"),
        ("sharedSecret('repo')", {}),
        ("semverParse('v1.2.3-rc.1+b5').Major()", 1),
        ("semverParse('1.2.3').Minor()", 2),
        ("semverParse('1.2.3').Patch()", 3),
        ("semverParse('1.2.3-rc.1').Prerelease()", "rc.1"),
        ("semverParse('1.2.3+b5').Metadata()", "b5"),
        ("semverParse('1.2.3').IncMajor().String()", "2.0.0"),
        ("semverParse('1.2.3').IncMinor().String()", "1.3.0"),
        ("semverParse('1.2.3').IncPatch().String()", "1.2.4"),
        ("semverParse('v1.2.3').String()", "1.2.3"),
        ("semverParse('1.2.3').LessThan(semverParse('1.10.0'))", True),
        ("semverDiff('1.2.3', '2.0.0')", "Major"),
        ("semverDiff('1.2.3', '1.3.0')", "Minor"),
        ("semverDiff('1.2.3', '1.2.4')", "Patch"),
        ("semverDiff('1.2.3+a', '1.2.3+b')", "Metadata"),
        ("semverDiff('1.2.3-a', '1.2.3-b')", "None"),
        ("semverDiff('1.2.3', 'banana')", "Incomparable"),
        ("ctx.stage + '/' + outputs.clone.commit", "prod/c1"),
        ("always()", True),
    ],
)
def test_promotion_function(source, expected):
    assert run(source) == expected


def test_artifact_objects_render_as_kargo_json_in_templates():
    env = env_for(Data())
    result = templates.evaluate_template("${{ imageFrom('ghcr.io/acme/api') }}", env)
    assert result == {
        "repoURL": IMAGE,
        "tag": "1.2.3",
        "digest": "sha256:aa",
        "annotations": {"k": "v"},
    }
    assert templates.evaluate_template("${{ semverParse('1.2.3').IncMinor() }}", env) == "1.3.0"
    assert templates.evaluate_template("${{ artifactFrom('cfg') }}", env) == {
        "ArtifactType": "blob",
        "SubscriptionName": "cfg",
        "Version": "v9",
        "Metadata": {"x": 1},
    }
    assert templates.evaluate_template("${{ warehouse('w1') }}", env) == {
        "kind": "Warehouse",
        "name": "w1",
    }


def test_commit_from_with_two_subscribing_warehouses_is_ambiguous():
    data = Data()
    data.origins = ["Warehouse/w1", "w2"]
    data.warehouses["w2"]["spec"]["subscriptions"].append({"git": {"repoURL": GIT}})
    with pytest.raises(ExpressionError, match="please update promotion steps to disambiguate"):
        run("commitFrom('https://github.com/acme/app')", data)


def test_image_from_with_two_subscribing_warehouses_is_ambiguous():
    data = Data()
    data.origins = ["w1", "w2"]
    with pytest.raises(ExpressionError, match="please provide a Freight origin"):
        run("imageFrom('ghcr.io/acme/api')", data)


def test_chart_from_not_subscribed_is_an_error():
    with pytest.raises(ExpressionError, match="not found in referenced Freight"):
        run("chartFrom('https://nowhere.example.com')")


def test_member_access_on_missing_artifact_fails_without_optional_chaining():
    with pytest.raises(ExpressionError, match="cannot fetch ID from nil"):
        run("commitFrom('https://github.com/acme/other').ID")


def test_artifact_objects_expose_only_their_fields():
    with pytest.raises(ExpressionError, match="has no field"):
        run("imageFrom('ghcr.io/acme/api').__class__")
    with pytest.raises(ExpressionError, match="has no method"):
        run("imageFrom('ghcr.io/acme/api').to_json()")
    with pytest.raises(ExpressionError, match="has no method"):
        run("semverParse('1.0.0').compare(semverParse('1.0.0'))")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("semverParse('banana')", "invalid semantic version"),
        ("warehouse('')", "name must not be empty"),
        ("warehouse(1)", "argument must be string"),
        ("commitFrom()", "expected 1-2 arguments"),
        ("imageFrom('x', 'w1')", "second argument must be FreightOrigin"),
        ("freightMetadata('')", "must not be empty"),
        ("status('')", "must not be empty"),
    ],
)
def test_function_argument_errors(source, message):
    with pytest.raises(ExpressionError, match=message):
        run(source)


def test_success_failure_and_status_read_step_metadata():
    metas = [
        {"alias": "step-1", "status": "Succeeded"},
        {"alias": "step-2", "status": "Failed", "continueOnError": True},
    ]
    assert run("success()", metas=metas) is True
    assert run("failure()", metas=metas) is False
    assert run("status('step-2')", metas=metas) == "Failed"
    assert run("status('nope')", metas=metas) == ""
    metas.append({"alias": "step-3", "status": "Errored"})
    assert run("failure()", metas=metas) is True
    assert run("success()", metas=metas) is False


def test_status_resolves_aliases_within_the_current_task():
    metas = [
        {"alias": "task-1::build", "status": "Succeeded"},
        {"alias": "build", "status": "Failed"},
    ]
    assert run("status('build')", metas=metas, alias="task-1::push") == "Succeeded"
    assert run("status('build')", metas=metas, alias="step-9") == "Failed"


def test_build_promotion_env_has_task_outputs_only_inside_tasks():
    env = functions.build_promotion_env({}, {}, {}, {"a": {"x": 1}}, {}, {})
    assert lang.compile("task.outputs.a.x").run(env) == 1
    env = functions.build_promotion_env({}, {}, {}, None, {}, {})
    assert "task" not in env
    assert "secrets" not in env


DISCOVERED = {
    "git": [
        {"repoURL": GIT, "commits": [{"id": "c1", "tag": "v1.0.0", "subject": "s"}, {"id": "c0"}]}
    ],
    "images": [
        {
            "repoURL": "ghcr.io/example/frontend",
            "references": [{"tag": "1.4.0", "digest": "sha256:f"}],
        },
        {"repoURL": "ghcr.io/example/backend", "references": [{"tag": "1.4.0"}, {"tag": "1.3.0"}]},
    ],
    "charts": [{"repoURL": "oci://ghcr.io/acme/charts/app", "versions": ["2.0.0", "1.0.0"]}],
    "results": [
        {"subscriptionName": "cfg", "artifactReferences": [{"version": "v2", "metadata": {"a": 1}}]}
    ],
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "imageFrom('ghcr.io/example/frontend').Tag == imageFrom('ghcr.io/example/backend').Tag",
            True,
        ),
        ("imageFrom('ghcr.io/example/frontend').Digest", "sha256:f"),
        ("commitFrom('https://github.com/acme/app').ID", "c1"),
        ("commitFrom('https://github.com/acme/app').Subject", "s"),
        ("chartFrom('oci://ghcr.io/acme/charts/app').Version", "2.0.0"),
        ("artifactFrom('cfg').Version", "v2"),
        ("imageFrom('ghcr.io/example/none')", None),
    ],
)
def test_criteria_functions_use_element_zero_of_discovered_artifacts(source, expected):
    assert lang.compile(source).run(functions.criteria_functions(DISCOVERED)) == expected


def test_criteria_functions_without_discovered_artifacts_return_nil():
    assert lang.compile("imageFrom('x')").run(functions.criteria_functions(None)) is None


class MinimalData:
    """A PromotionData without warehouse() that hands over data maps, not objects."""

    def __init__(self) -> None:
        self.full = Data()

    def freight_collection(self):
        return self.full.collection

    def requested_origins(self):
        return [
            {"origin": {"kind": "Warehouse", "name": "w1"}},
            {"kind": "Warehouse", "name": "w2"},
        ]

    def freight(self, name):
        return None

    stage = freight

    def config_map(self, name):
        return {"region": "eu"}

    def secret(self, name):
        return {"token": "plain"}

    def shared_config_map(self, name):
        return None

    def shared_secret(self, name):
        return {"k": "pre-filtered"}


def test_adapters_may_return_data_maps_and_skip_warehouses():
    env = functions.promotion_functions(MinimalData())  # type: ignore[arg-type]
    assert lang.compile("configMap('x').region").run(env) == "eu"
    assert lang.compile("secret('x').token").run(env) == "plain"
    assert lang.compile("sharedSecret('x').k").run(env) == "pre-filtered"
    assert lang.compile("sharedConfigMap('x')").run(env) == {}
    # without warehouse(), the requested origin whose Freight carries the artifact is used
    assert lang.compile("commitFrom('https://github.com/acme/app').ID").run(env) == "abc123"
    with pytest.raises(ExpressionError, match="please provide a Freight origin"):
        lang.compile("imageFrom('ghcr.io/acme/api')").run(env)
    assert lang.compile("imageFrom('ghcr.io/acme/api', warehouse('w2')).Tag").run(env) == "2.0.0"
