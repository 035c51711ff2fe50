"""Validation messages are a contract: `config -> expected problems`, one table per step.

Each problem reads `<field path in manifest spelling>: <message>`; the engine prefixes the step
alias and kind. Valid rows are the configs from Kargo's documentation for the same step.
"""

from __future__ import annotations

import pytest

from tests.promotion.steps import helpers

REQUIRED = "Field required"
EXTRA = "Extra inputs are not permitted"
EMPTY_STR = "String should have at least 1 character"
EMPTY_LIST = "List should have at least 1 item after validation, not 0"

CASES = [
    # yaml-update
    ("yaml-update", {"path": "values.yaml", "updates": [{"key": "image.tag", "value": "1.2"}]}, []),
    ("yaml-update", {}, [f"path: {REQUIRED}", f"updates: {REQUIRED}"]),
    ("yaml-update", {"path": "", "updates": []}, [f"path: {EMPTY_STR}", f"updates: {EMPTY_LIST}"]),
    ("yaml-update", {"path": "a", "updates": [{"key": "a"}]}, [f"updates.0.value: {REQUIRED}"]),
    ("yaml-update", {"path": "a", "updates": [{"key": "a", "value": None}]}, []),
    (
        "yaml-update",
        {"path": "a", "updates": [{"key": "a", "value": 1}], "extra": 1},
        [f"extra: {EXTRA}"],
    ),
    # yaml-parse / yaml-merge
    ("yaml-parse", {"path": "a", "outputs": [{"name": "v", "fromExpression": "version"}]}, []),
    (
        "yaml-parse",
        {"path": "a", "outputs": [{"name": "x"}]},
        [f"outputs.0.fromExpression: {REQUIRED}"],
    ),
    ("yaml-merge", {"inFiles": ["a.yaml", "b.yaml"], "outFile": "out.yaml"}, []),
    ("yaml-merge", {"inFiles": [], "outFile": "x"}, [f"inFiles: {EMPTY_LIST}"]),
    # json / toml
    ("json-update", {"path": "a.json", "updates": [{"key": "a.b", "value": True}]}, []),
    ("json-update", {"path": "a"}, [f"updates: {REQUIRED}"]),
    (
        "json-parse",
        {"path": "a", "outputs": [{"name": "v", "fromExpression": "v", "x": 1}]},
        [f"outputs.0.x: {EXTRA}"],
    ),
    ("toml-update", {"path": "a.toml", "updates": [{"key": "a", "value": 1}]}, []),
    ("toml-parse", {"path": "a", "outputs": []}, [f"outputs: {EMPTY_LIST}"]),
    # kustomize
    (
        "kustomize-set-image",
        {"path": "./src/base", "images": [{"image": "nginx", "tag": "1.27"}]},
        [],
    ),
    ("kustomize-set-image", {"path": "."}, []),
    (
        "kustomize-set-image",
        {"path": ".", "images": [{"image": "x"}]},
        ["images.0: Value error, exactly one of tag or digest must be set"],
    ),
    (
        "kustomize-set-image",
        {"path": ".", "images": [{"image": "x", "tag": "1", "digest": "sha256:a"}]},
        ["images.0: Value error, exactly one of tag or digest must be set"],
    ),
    (
        "kustomize-set-image",
        {"images": [{"image": ""}]},
        [f"path: {REQUIRED}", f"images.0.image: {EMPTY_STR}"],
    ),
    (
        "kustomize-build",
        {
            "path": "./src/stages/test",
            "outPath": "./out",
            "plugin": {"helm": {"kubeVersion": "1.30", "apiVersions": ["v1"]}},
        },
        [],
    ),
    (
        "kustomize-build",
        {"path": "a", "outPath": "b", "outputFormat": "json"},
        ["outputFormat: Input should be 'kargo' or 'kustomize'"],
    ),
    (
        "kustomize-build",
        {"path": "a", "outPath": "b", "plugin": {"helm": {"x": 1}}},
        [f"plugin.helm.x: {EXTRA}"],
    ),
    # helm
    (
        "helm-template",
        {
            "path": "charts/app",
            "outPath": "out",
            "releaseName": "app",
            "includeCRDs": True,
            "setValues": [{"key": "a", "value": "b", "literal": True}],
        },
        [],
    ),
    ("helm-template", {"path": "a", "outPath": "b"}, [f"releaseName: {REQUIRED}"]),
    (
        "helm-template",
        {
            "path": "a",
            "outPath": "b",
            "releaseName": "r",
            "outLayout": "tree",
            "setValues": [{"key": "k"}],
        },
        ["outLayout: Input should be 'helm' or 'flat'", f"setValues.0.value: {REQUIRED}"],
    ),
    ("helm-update-chart", {"path": "charts/app"}, []),
    (
        "helm-update-chart",
        {"path": "a", "charts": [{"name": "x", "version": "1"}]},
        [f"charts.0.repository: {REQUIRED}"],
    ),
    # files
    ("copy", {"inPath": "src", "outPath": "out", "ignore": "*.log"}, []),
    ("copy", {"inPath": "a"}, [f"outPath: {REQUIRED}"]),
    ("delete", {"path": "a"}, []),
    ("delete", {"paths": ["a/*.yaml"], "pathsAreGlobs": True, "strict": True}, []),
    ("delete", {}, ["(config): Value error, exactly one of path or paths must be set"]),
    (
        "delete",
        {"path": "a", "paths": ["b"]},
        ["(config): Value error, exactly one of path or paths must be set"],
    ),
    ("delete", {"paths": []}, [f"paths: {EMPTY_LIST}"]),
    ("file-write", {"path": "a", "contents": "x", "permissions": "0644", "overwrite": True}, []),
    (
        "file-write",
        {"path": "a", "contents": "x", "permissions": "644"},
        ["permissions: String should match pattern '^0[0-7]{3}$'"],
    ),
    ("file-write", {"path": "a"}, [f"contents: {REQUIRED}"]),
    ("tar", {"inPath": "a", "outPath": "b.tgz", "gzip": False}, []),
    ("tar", {"inPath": "a", "outPath": "b", "ignore": ""}, [f"ignore: {EMPTY_STR}"]),
    ("untar", {"inPath": "a.tgz", "outPath": "b", "stripComponents": 1}, []),
    (
        "untar",
        {"inPath": "a", "outPath": "b", "stripComponents": -1},
        ["stripComponents: Input should be greater than or equal to 0"],
    ),
]


@pytest.mark.parametrize(
    ("step", "config", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_config_validation_reports_exactly_these_problems(step, config, expected):
    assert helpers.problems(step, config) == expected


def test_every_file_editing_step_has_validation_rows():
    assert {c[0] for c in CASES} == set(helpers.REGISTRY.names())
