"""Loading manifests: Kargo's own examples load unchanged; bad ones report every problem with
file, line, column, path, message and a hint."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from kargo import errors
from kargo.api import kinds, manifests

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "reference" / "examples"


def _substitute(text: str) -> str:
    return re.sub(
        r"\$\{(\w+)\}",
        lambda m: "https://git.example.com/acme/gitops.git" if "URL" in m.group(1) else "value",
        text,
    )


def _example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml"))


@pytest.mark.parametrize("path", _example_files(), ids=lambda p: p.name)
def test_kargo_examples_load_unchanged(path):
    docs = manifests.load_documents(_substitute(path.read_text()), str(path))
    assert docs
    for doc in docs:
        manifests.validate(doc)
        assert manifests.apply_defaults(doc)["kind"] == doc["kind"]


def test_examples_directory_is_present():
    assert _example_files(), f"no examples found in {EXAMPLES}"


HEAD = "apiVersion: kargo.akuity.io/v1alpha1\n"

# (manifest, [(line, path, message fragment, hint fragment)])
BAD = [
    pytest.param(
        HEAD
        + textwrap.dedent("""\
            kind: Warehouse
            metadata: {name: w, namespace: p}
            spec:
              subscriptions:
              - image:
                  repoUrl: nginx
            """),
        [
            (6, "spec.subscriptions[0].image.repoURL", "'repoURL' is required", "add repoURL"),
            (7, "spec.subscriptions[0].image.repoUrl", "unknown field 'repoUrl'", "'repoURL'"),
        ],
        id="misspelled-field-suggests-the-closest",
    ),
    pytest.param(
        HEAD
        + textwrap.dedent("""\
            kind: Warehouse
            metadata: {name: w, namespace: p}
            spec:
              interval: 5 minutes
              freightCreationPolicy: Auto
              subscriptions:
              - image:
                  repoURL: ghcr.io/acme/api:1.0
                  imageSelectionStrategy: Semver
                  discoveryLimit: 500
            """),
        [
            (5, "spec.interval", "not a valid duration", "5m0s"),
            (6, "spec.freightCreationPolicy", "'Auto' is not allowed", "'Automatic'"),
            (9, "spec.subscriptions[0].image.repoURL", "not a valid image repository", ""),
            (10, "spec.subscriptions[0].image.imageSelectionStrategy", "not allowed", "'SemVer'"),
            (11, "spec.subscriptions[0].image.discoveryLimit", "less than or equal to 100", ""),
        ],
        id="patterns-enums-and-limits",
    ),
    pytest.param(
        HEAD
        + textwrap.dedent("""\
            kind: Warehouse
            metadata: {name: w, namespace: p}
            spec:
              subscriptions:
              - git:
                  repoURL: https://github.com/acme/repo
                  branch: -bad
              - chart:
                  repoURL: https://charts.example.com
              - imagee:
                  repoURL: nginx
              - image: {repoURL: nginx, imageSelectionStrategy: Digest}
            """),
        [
            (8, "spec.subscriptions[0].git.branch", "not a valid branch", ""),
            (9, "spec.subscriptions[1].chart", "name is required", "index.yaml"),
            (11, "spec.subscriptions[2]", "unknown subscription type 'imagee'", "'image'"),
            (13, "spec.subscriptions[3].image", "Digest strategy needs constraint", ""),
        ],
        id="git-chart-and-generic-subscriptions",
    ),
    pytest.param(
        HEAD
        + textwrap.dedent("""\
            kind: Stage
            metadata: {name: s, namespace: p}
            spec:
              requestedFreight:
              - origin: {kind: Warehouse, name: w}
                sources: {}
              promotionTemplate:
                spec:
                  steps:
                  - uses: git-clone
                    task: {name: t}
                  - task: {name: t}
                    retry: {errorThreshold: 2}
                  - uses: git-push
                    retry: {timeout: 10 minutes}
                    vars: [{name: 1bad, value: x}]
            """),
        [
            (7, "spec.requestedFreight[0].sources", "needs a source", "direct: true"),
            (11, "spec.promotionTemplate.spec.steps[0]", "exactly one of uses or task", ""),
            (
                13,
                "spec.promotionTemplate.spec.steps[1]",
                "may not set continueOnError or retry",
                "",
            ),
            (16, "spec.promotionTemplate.spec.steps[2].retry.timeout", "not a valid duration", ""),
            (17, "spec.promotionTemplate.spec.steps[2].vars[0].name", "not a valid variable", ""),
        ],
        id="stage-rules",
    ),
    pytest.param(
        HEAD
        + textwrap.dedent("""\
            kind: Promotion
            metadata: {name: p1, namespace: p}
            spec:
              stage: test
              freight: abc
              origin: {kind: Warehouse, name: w}
            ---
            apiVersion: kargo.akuity.io/v1alpha1
            kind: ProjectConfig
            metadata: {name: p, namespace: p}
            spec:
              promotionPolicies:
              - stage: test
                stageSelector: {name: test}
            """),
        [
            (4, "spec", "exactly one of freight or origin", ""),
            (14, "spec.promotionPolicies[0]", "exactly one of stage or stageSelector", ""),
        ],
        id="promotion-and-policy-exclusions",
    ),
    pytest.param(
        textwrap.dedent("""\
            apiVersion: kargo.akuity.io/v1
            kind: Stage
            metadata: {name: s, namespace: p}
            spec: {requestedFreight: [{origin: {name: w}, sources: {direct: true}}]}
            ---
            apiVersion: kargo.akuity.io/v1alpha1
            kind: Stag
            metadata: {name: s}
            ---
            apiVersion: kargo.akuity.io/v1alpha1
            kind: Project
            metadata: {name: p, namespace: other}
            ---
            apiVersion: kargo.akuity.io/v1alpha1
            kind: Warehouse
            metadata: {namespace: p}
            spec: {subscriptions: [{image: {repoURL: nginx}}]}
            """),
        [
            (1, "apiVersion", "not served for kind Stage", "kargo.akuity.io/v1alpha1"),
            (7, "kind", "unknown kind 'Stag'", "'Stage'"),
            (12, "metadata.namespace", "cluster-scoped", "remove"),
            (16, "metadata.name", "needs a name", ""),
        ],
        id="unknown-kind-and-version-and-scope",
    ),
    pytest.param(
        HEAD
        + textwrap.dedent("""\
            kind: Warehouse
            metadata: {name: w, namespace: p}
            spec:
              subscriptions: [{image: {repoURL: nginx}}]
              subscriptions: []
            """),
        [(6, "", "invalid YAML", "duplicate")],
        id="yaml-syntax-error",
    ),
    pytest.param(
        textwrap.dedent("""\
            apiVersion: v1
            kind: Secret
            metadata: {name: s, namespace: p}
            data:
              password: not base64!
            stringData:
              username: ok
            """),
        [(4, "data", "data.password is not valid base64", "stringData")],
        id="secret-data-is-base64",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_bad_manifests_report_every_problem(text, expected):
    with pytest.raises(errors.ValidationError) as caught:
        manifests.load_documents(text, "bad.yaml")
    got = caught.value.problems
    assert len(got) == len(expected), "\n".join(map(str, got))
    for problem, (line, path, message, hint) in zip(got, expected, strict=True):
        assert problem.file == "bad.yaml"
        assert problem.line == line, str(problem)
        assert problem.path == path, str(problem)
        assert message in problem.message, str(problem)
        assert hint in problem.hint, str(problem)
        assert problem.column is not None


def test_secret_problem_never_echoes_the_value():
    text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {token: 'hunter2!!'}\n"
    with pytest.raises(errors.ValidationError) as caught:
        manifests.load_documents(text)
    assert "hunter2" not in str(caught.value)


def test_documents_come_back_as_written_not_defaulted():
    text = HEAD + "kind: Warehouse\nmetadata: {name: w, namespace: p}\n"
    text += "spec:\n  subscriptions:\n  - image: {repoURL: nginx}\n"
    [doc] = manifests.load_documents(text)
    assert doc["spec"] == {"subscriptions": [{"image": {"repoURL": "nginx"}}]}
    assert type(doc["spec"]) is dict


def test_apply_defaults_fills_kargo_defaults_and_keeps_free_json():
    obj = {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "Warehouse",
        "metadata": {"name": "w", "namespace": "p"},
        "spec": {
            "subscriptions": [
                {"image": {"repoURL": "nginx"}},
                {"git": {"repoURL": "https://github.com/a/b", "discoveryLimit": 3}},
                {"chart": {"repoURL": "oci://ghcr.io/a/c"}},
            ]
        },
    }
    spec = manifests.apply_defaults(obj)["spec"]
    assert spec["interval"] == "5m0s"
    assert spec["freightCreationPolicy"] == "Automatic"
    image, git, chart = (
        s[k] for s, k in zip(spec["subscriptions"], ("image", "git", "chart"), strict=True)
    )
    assert image == {
        "repoURL": "nginx",
        "imageSelectionStrategy": "SemVer",
        "strictSemvers": True,
        "discoveryLimit": 20,
    }
    assert git["commitSelectionStrategy"] == "NewestFromBranch"
    assert git["discoveryLimit"] == 3
    assert chart["discoveryLimit"] == 20
    assert "interval" not in obj["spec"], "the input must not be modified"


def test_apply_defaults_keeps_nulls_inside_step_config():
    obj = {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "PromotionTask",
        "metadata": {"name": "t", "namespace": "p"},
        "spec": {"steps": [{"uses": "yaml-update", "config": {"value": None, "n": [1, None]}}]},
    }
    assert manifests.apply_defaults(obj)["spec"]["steps"][0]["config"] == {
        "value": None,
        "n": [1, None],
    }


def test_validate_reports_paths_without_lines():
    with pytest.raises(errors.ValidationError) as caught:
        manifests.validate({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage"})
    paths = {p.path for p in caught.value.problems}
    assert paths == {"metadata", "spec"}
    assert all(p.line is None for p in caught.value.problems)


def test_status_and_server_fields_are_accepted():
    obj = {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "Promotion",
        "metadata": {
            "name": "test.01j.abc1234",
            "namespace": "p",
            "uid": "u",
            "resourceVersion": "7",
            "generation": 1,
            "creationTimestamp": "2025-01-01T00:00:00Z",
            "finalizers": ["kargo.akuity.io/finalizer"],
        },
        "spec": {"stage": "test", "freight": "abc1234"},
        "status": {"phase": "Running", "currentStep": 1, "someFutureField": True},
    }
    manifests.validate(obj)


def test_load_paths_reads_directories_and_reports_all_files(tmp_path):
    good = HEAD + "kind: Project\nmetadata: {name: p}\n"
    (tmp_path / "a.yaml").write_text(good)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.json").write_text(
        '{"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Project", "metadata": {"name": "q"}}'
    )
    (tmp_path / "notes.txt").write_text("ignored")
    assert [d["metadata"]["name"] for _, d in manifests.load_paths([str(tmp_path)], False)] == ["p"]
    loaded = manifests.load_paths([str(tmp_path)], True)
    assert [(Path(s).name, d["metadata"]["name"]) for s, d in loaded] == [
        ("a.yaml", "p"),
        ("b.json", "q"),
    ]
    (tmp_path / "c.yml").write_text(HEAD + "kind: Projectt\nmetadata: {name: x}\n")
    with pytest.raises(errors.ValidationError) as caught:
        manifests.load_paths([str(tmp_path / "c.yml"), str(tmp_path / "missing.yaml")], False)
    assert [(Path(p.file).name, p.line) for p in caught.value.problems] == [
        ("c.yml", 2),
        ("missing.yaml", None),
    ]


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("Stage", "Stage"),
        ("stages", "Stage"),
        ("STAGE", "Stage"),
        ("promo", "Promotion"),
        ("promos", "Promotion"),
        ("promotask", "PromotionTask"),
        ("clusterpromotask", "ClusterPromotionTask"),
        ("freight", "Freight"),
        ("analysistemplates", "AnalysisTemplate"),
        ("cm", "ConfigMap"),
    ],
)
def test_kind_lookup_accepts_every_name(word, kind):
    assert kinds.lookup(word).kind == kind


def test_kind_lookup_names_the_known_kinds():
    with pytest.raises(errors.NotFoundError, match="known kinds: AnalysisTemplate"):
        kinds.lookup("widgets")


def test_cluster_scoped_kinds():
    cluster = {k for k, info in kinds.KINDS.items() if not info.namespaced}
    assert cluster == {
        "Project",
        "ClusterConfig",
        "ClusterPromotionTask",
        "ClusterAnalysisTemplate",
    }
