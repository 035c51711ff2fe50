"""Every file-editing step run by the engine inside a Promotion, on lazy git checkouts.

Each test is one Promotion run by `kargo.promotion.engine.Engine` with the real step registry:
git-clone (a lazy checkout, the default) of a repository on the smart-HTTP git server with
HTTP Basic auth, the step under test working on files of the checkout (most in directories the
lazy checkout has not written out yet, some named only through an expression), then git-commit
and git-push. The assertions are on what landed on the server: the exact contents of the files,
and that nothing else changed (`git diff --name-status` between the old and new commit lists
only the expected paths), and on step outputs that later steps read through
`${{ outputs.<alias>.<name> }}`.

The `probe` step (tests/promotion/steps/engine_world.py) shows which files were on disk before
the engine checked out a step's paths, so these tests fail if they stop exercising laziness.
"""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import conftest
from tests.fixtures.charts import ChartRepo
from tests.fixtures.git import GitServer
from tests.promotion.steps.engine_world import (
    COMMITTER,
    EngineWorld,
    step_messages,
    succeeded,
)

API_VALUES = """\
# api values
image:
  repository: ghcr.io/example/api
  tag: 1.0.0   # the tag promotions change
replicas: 2
"""

API_CONFIG = """\
{
  "name": "api",
  "version": "3.1.0",
  "features": ["a", "b"]
}
"""

API_SETTINGS = """\
# api settings
[server]
port = 8080 # listen port

[release]
version = "3.1.0"
"""

WEB_PACKAGE = """\
{
  "name": "web",
  "version": "0.9.0",
  "dependencies": {
    "api-client": "1.0.0",
    "left-pad": "1.3.0"
  }
}
"""

WEB_SETTINGS = """\
# web settings
[upstream]
host = "api"
port = 80 # the api's port
version = "0.0.0"
"""

CHART_YAML = "apiVersion: v2\nname: app\nversion: 0.1.0\n"
CHART_VALUES = "greeting: hello\nreplicas: 1\n"
CHART_TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-app
  namespace: {{ .Release.Namespace }}
data:
  greeting: {{ .Values.greeting | quote }}
  replicas: {{ .Values.replicas | quote }}
"""
CHECK_SCRIPT = "#!/bin/sh\necho ok\n"

SEED: dict[str, str | None] = {
    "README.md": "# gitops\n",
    "notes.bak": "a backup at the top, outside apps/\n",
    "meta/release.yaml": (
        "version: 2.4.1\n"
        "jsonFile: apps/web/package.json\n"
        "tomlFile: apps/web/settings.toml\n"
        "image:\n  repository: ghcr.io/example/api\n"
    ),
    "apps/api/values.yaml": API_VALUES,
    "apps/api/config.json": API_CONFIG,
    "apps/api/settings.toml": API_SETTINGS,
    "apps/api/tmp.bak": "api backup\n",
    "apps/api/nested/deep.bak": "deep backup\n",
    "apps/api/nested/keep.yaml": "kept: true\n",
    "apps/web/package.json": WEB_PACKAGE,
    "apps/web/settings.toml": WEB_SETTINGS,
    "apps/web/old.bak": "web backup\n",
    "base/values.yaml": "# base values\nimage:\n  tag: 1.0.0\n  pullPolicy: IfNotPresent\nreplicas: 1\n",
    "env/test/overrides.yaml": "image:\n  tag: 1.1.0\nreplicas: 3\n",
    "env/test/obsolete.yaml": "obsolete: true\n",
    "env/test/chart-values.yaml": "greeting: hello from test\n",
    "env/prod/overrides.yaml": "replicas: 5\n",
    "env/prod/obsolete.yaml": "obsolete: true\n",
    "charts/app/Chart.yaml": CHART_YAML,
    "charts/app/values.yaml": CHART_VALUES,
    "charts/app/templates/configmap.yaml": CHART_TEMPLATE,
    "charts/app/scripts/check.sh": CHECK_SCRIPT,
}


@pytest.fixture(autouse=True)
def lazy_checkouts_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's default: git-clone makes lazy checkouts."""
    monkeypatch.delenv("KARGO_GIT_LAZY_CHECKOUT", raising=False)


@pytest.fixture
def world(git_server: GitServer, tmp_path: Path) -> EngineWorld:
    """The repository seeded with SEED on main (check.sh executable), and the engine."""
    made = EngineWorld(git_server, tmp_path)
    writer = git_server.writer("gitops")
    writer.commit(SEED, "seed")
    (writer.work / "charts/app/scripts/check.sh").chmod(0o755)
    writer.commit({}, "make check.sh executable")
    assert made.mode("main", "charts/app/scripts/check.sh") == "100755"
    return made


def clone(world: EngineWorld, *checkouts: dict[str, Any]) -> dict[str, Any]:
    """A git-clone step of the world's repository (no `sparse`: lazy checkouts do the work)."""
    return {
        "uses": "git-clone",
        "as": "clone",
        "config": {"repoURL": world.url, "checkout": list(checkouts or [{"path": "./out"}])},
    }


def commit_and_push(message: str, path: str = "./out") -> list[dict[str, Any]]:
    return [
        {"uses": "git-commit", "as": "commit", "config": {"path": path, "message": message}},
        {"uses": "git-push", "as": "push", "config": {"path": path}},
    ]


def assert_succeeded(status: dict[str, Any]) -> None:
    assert succeeded(status), step_messages(status)


def assert_pushed(world: EngineWorld, status: dict[str, Any], before: str, branch: str) -> str:
    """One new commit on `branch`, the one git-commit made and git-push reported."""
    after = world.head(branch)
    assert status["state"]["push"]["commit"] == after
    assert status["state"]["push"]["branch"] == branch
    assert status["state"]["commit"]["commit"] == after
    assert world.parents(after) == [before]
    return after


# ---------------------------------------------------------------------------------------------
# yaml-parse, yaml-update, yaml-merge


async def test_yaml_parse_outputs_feed_yaml_update_in_a_directory_not_yet_checked_out(
    world: EngineWorld,
) -> None:
    before = world.head()
    status = await world.promote(
        [
            clone(world),
            {
                "uses": "probe",
                "as": "lazy",
                "config": {
                    "paths": ["out/README.md", "out/meta/release.yaml", "out/apps/api/values.yaml"]
                },
            },
            {
                "uses": "yaml-parse",
                "as": "release",
                "config": {
                    "path": "./out/${{ vars.metaFile }}",
                    "outputs": [
                        {"name": "version", "fromExpression": "version"},
                        {"name": "repository", "fromExpression": "image.repository"},
                    ],
                },
            },
            {
                "uses": "yaml-update",
                "as": "update",
                "config": {
                    "path": "./out/apps/api/values.yaml",
                    "updates": [{"key": "image.tag", "value": "${{ outputs.release.version }}"}],
                },
            },
            {
                "uses": "probe",
                "as": "expanded",
                "config": {
                    "paths": [
                        "out/apps/api/values.yaml",
                        "out/apps/api/nested/keep.yaml",
                        "out/apps/web/package.json",
                        "out/env/test/overrides.yaml",
                    ]
                },
            },
            *commit_and_push("${{ outputs.update.commitMessage }}"),
        ],
        variables={"metaFile": "meta/release.yaml"},
    )
    assert_succeeded(status)
    state = status["state"]
    # the checkout was lazy: only the top-level files were there before the steps asked
    assert state["lazy"]["present"] == {
        "out/README.md": True,
        "out/meta/release.yaml": False,
        "out/apps/api/values.yaml": False,
    }
    # the engine checked out the directory yaml-update named, and not the rest
    assert state["expanded"]["present"] == {
        "out/apps/api/values.yaml": True,
        "out/apps/api/nested/keep.yaml": True,
        "out/apps/web/package.json": False,
        "out/env/test/overrides.yaml": False,
    }
    assert state["release"] == {"version": "2.4.1", "repository": "ghcr.io/example/api"}
    after = assert_pushed(world, status, before, "main")
    assert world.changes(before, after) == ["M apps/api/values.yaml"]
    assert world.show(after, "apps/api/values.yaml") == API_VALUES.replace(
        "tag: 1.0.0 ", "tag: 2.4.1 "
    )
    assert world.git("log", "-1", "--format=%B", after) == (
        "Updated ./out/apps/api/values.yaml\n\n- image.tag: 2.4.1\n\n"
    )
    assert world.git("log", "-1", "--format=%an <%ae>|%cn <%ce>", after).strip() == (
        f"{COMMITTER.name} <{COMMITTER.email}>|{COMMITTER.name} <{COMMITTER.email}>"
    )


async def test_yaml_merge_of_files_in_two_directories_into_a_new_file(world: EngineWorld) -> None:
    before = world.head()
    status = await world.promote(
        [
            clone(world),
            {
                "uses": "yaml-merge",
                "as": "merge",
                "config": {
                    "inFiles": [
                        "./out/base/values.yaml",
                        "./out/env/${{ ctx.stage }}/overrides.yaml",
                    ],
                    "outFile": "./out/env/${{ ctx.stage }}/merged.yaml",
                },
            },
            *commit_and_push("${{ outputs.merge.commitMessage }}"),
        ]
    )
    assert_succeeded(status)
    after = assert_pushed(world, status, before, "main")
    assert world.changes(before, after) == ["A env/test/merged.yaml"]
    merged = world.show(after, "env/test/merged.yaml")
    assert yaml.safe_load(merged) == {
        "image": {"tag": "1.1.0", "pullPolicy": "IfNotPresent"},
        "replicas": 3,
    }
    assert merged.startswith("# base values\n")  # the first file's comments are kept
    assert world.git("log", "-1", "--format=%B", after) == (
        "Merged 2 YAML files to ./out/env/test/merged.yaml\n"
        "- ./out/base/values.yaml\n- ./out/env/test/overrides.yaml\n\n"
    )


# ---------------------------------------------------------------------------------------------
# json-parse, json-update, toml-parse, toml-update


async def test_json_parse_output_updates_a_json_file_named_only_by_another_output(
    world: EngineWorld,
) -> None:
    before = world.head()
    status = await world.promote(
        [
            clone(world),
            {
                "uses": "yaml-parse",
                "as": "meta",
                "config": {
                    "path": "./out/meta/release.yaml",
                    "outputs": [{"name": "jsonFile", "fromExpression": "jsonFile"}],
                },
            },
            {
                "uses": "json-parse",
                "as": "api",
                "config": {
                    "path": "./out/apps/api/config.json",
                    "outputs": [
                        {"name": "version", "fromExpression": "version"},
                        {"name": "lastFeature", "fromExpression": "features[1]"},
                    ],
                },
            },
            {
                "uses": "probe",
                "as": "lazy",
                "config": {"paths": ["out/apps/web/package.json"]},
            },
            {
                "uses": "json-update",
                "as": "update",
                "config": {
                    "path": "./out/${{ outputs.meta.jsonFile }}",
                    "updates": [
                        {"key": "dependencies.api-client", "value": "${{ outputs.api.version }}"},
                        {"key": "features", "value": "${{ outputs.api.lastFeature }}"},
                    ],
                },
            },
            *commit_and_push("${{ outputs.update.commitMessage }}"),
        ]
    )
    assert_succeeded(status)
    assert status["state"]["api"] == {"version": "3.1.0", "lastFeature": "b"}
    assert status["state"]["lazy"]["present"] == {"out/apps/web/package.json": False}
    after = assert_pushed(world, status, before, "main")
    assert world.changes(before, after) == ["M apps/web/package.json"]
    assert world.show(after, "apps/web/package.json") == (
        WEB_PACKAGE.replace('"api-client": "1.0.0"', '"api-client": "3.1.0"').replace(
            '    "left-pad": "1.3.0"\n  }\n', '    "left-pad": "1.3.0"\n  },\n  "features": "b"\n'
        )
    )


async def test_toml_parse_outputs_keep_their_types_in_toml_update(world: EngineWorld) -> None:
    before = world.head()
    status = await world.promote(
        [
            clone(world),
            {
                "uses": "yaml-parse",
                "as": "meta",
                "config": {
                    "path": "./out/meta/release.yaml",
                    "outputs": [{"name": "tomlFile", "fromExpression": "tomlFile"}],
                },
            },
            {
                "uses": "toml-parse",
                "as": "settings",
                "config": {
                    "path": "./out/apps/api/settings.toml",
                    "outputs": [
                        {"name": "port", "fromExpression": "server.port"},
                        {"name": "version", "fromExpression": "release.version"},
                    ],
                },
            },
            {
                "uses": "toml-update",
                "as": "update",
                "config": {
                    "path": "./out/${{ outputs.meta.tomlFile }}",
                    "updates": [
                        {"key": "upstream.port", "value": "${{ outputs.settings.port }}"},
                        {"key": "upstream.version", "value": "${{ outputs.settings.version }}"},
                    ],
                },
            },
            *commit_and_push("${{ outputs.update.commitMessage }}"),
        ]
    )
    assert_succeeded(status)
    assert status["state"]["settings"] == {"port": 8080, "version": "3.1.0"}
    after = assert_pushed(world, status, before, "main")
    assert world.changes(before, after) == ["M apps/web/settings.toml"]
    assert world.show(after, "apps/web/settings.toml") == WEB_SETTINGS.replace(
        "port = 80 #", "port = 8080 #"
    ).replace('version = "0.0.0"', 'version = "3.1.0"')


# ---------------------------------------------------------------------------------------------
# copy between two checkouts, as Kargo's quickstart template lays them out


async def test_copy_from_a_source_commit_into_a_stage_branch(world: EngineWorld) -> None:
    source = world.head()
    # the stage branch holds only its own manifests
    stage_files: dict[str, str | None] = {path: None for path in SEED}
    stage_files |= {"README.md": "stage test\n", "manifests.yaml": "kind: List\n"}
    world.seed(stage_files, "stage/test starts", branch="stage/test")
    # main moves on after the commit the Freight names
    world.seed({"apps/api/values.yaml": "moved: on\n"}, "later", branch="main")
    main_after_seed = world.head()
    before = world.head("stage/test")
    status = await world.promote(
        [
            clone(
                world,
                {"commit": "${{ vars.srcCommit }}", "path": "./src"},
                {"branch": "stage/${{ ctx.stage }}", "path": "./out"},
            ),
            {
                "uses": "copy",
                "config": {"inPath": "./src/apps/api", "outPath": "./out/api", "ignore": "*.bak\n"},
            },
            {
                "uses": "copy",
                "config": {"inPath": "./src/meta/release.yaml", "outPath": "./out/release.yaml"},
            },
            *commit_and_push("copy api from ${{ vars.srcCommit }}"),
        ],
        variables={"srcCommit": source},
    )
    assert_succeeded(status)
    assert status["state"]["clone"]["commits"] == {"./src": source, "./out": before}
    after = assert_pushed(world, status, before, "stage/test")
    assert world.changes(before, after) == [
        "A api/config.json",
        "A api/nested/keep.yaml",
        "A api/settings.toml",
        "A api/values.yaml",
        "A release.yaml",
    ]
    # the files as they were at the source commit, not as main has them now
    assert world.show(after, "api/values.yaml") == API_VALUES
    assert world.show(after, "api/config.json") == API_CONFIG
    assert world.show(after, "api/settings.toml") == API_SETTINGS
    assert world.show(after, "api/nested/keep.yaml") == "kept: true\n"
    assert world.show(after, "release.yaml") == SEED["meta/release.yaml"]
    assert world.show(after, "manifests.yaml") == "kind: List\n"
    assert world.head() == main_after_seed  # the source branch is untouched


async def test_copy_into_a_new_stage_branch_holds_only_the_copied_files(
    world: EngineWorld,
) -> None:
    source = world.head()
    status = await world.promote(
        [
            clone(
                world,
                {"commit": source, "path": "./src"},
                {"branch": "stage/${{ ctx.stage }}", "create": True, "path": "./out"},
            ),
            {"uses": "git-clear", "config": {"path": "./out"}},
            {
                "uses": "copy",
                "config": {"inPath": "./src/env/${{ ctx.stage }}", "outPath": "./out"},
            },
            *commit_and_push("render ${{ ctx.stage }}"),
        ]
    )
    assert_succeeded(status)
    after = world.head("stage/test")
    [initial] = world.parents(after)  # git-clone's "Initial commit", empty and parentless
    assert status["state"]["clone"]["commits"] == {"./src": source, "./out": initial}
    assert status["state"]["push"]["commit"] == after
    assert world.parents(initial) == []
    assert world.files(initial) == []
    assert world.files(after) == ["chart-values.yaml", "obsolete.yaml", "overrides.yaml"]
    for name in ("chart-values.yaml", "obsolete.yaml", "overrides.yaml"):
        assert world.show(after, name) == SEED[f"env/test/{name}"]
    assert world.head() == source


async def test_a_new_stage_branch_nothing_is_written_to_still_succeeds(
    world: EngineWorld,
) -> None:
    status = await world.promote(
        [
            clone(world, {"branch": "stage/${{ ctx.stage }}", "create": True, "path": "./out"}),
            *commit_and_push("render ${{ ctx.stage }}"),
        ]
    )
    assert_succeeded(status)
    initial = world.head("stage/test")
    assert status["state"]["clone"]["commits"] == {"./out": initial}
    assert status["state"]["commit"]["commit"] == initial  # nothing to commit
    assert status["state"]["push"]["commit"] == initial  # nothing new to push
    assert world.parents(initial) == []
    assert world.files(initial) == []


# ---------------------------------------------------------------------------------------------
# delete


@pytest.mark.parametrize(
    ("patterns", "deleted"),
    [
        pytest.param(
            ["./out/apps/**/*.bak", "./out/env/*/obsolete.yaml"],
            [
                "apps/api/nested/deep.bak",
                "apps/api/tmp.bak",
                "apps/web/old.bak",
                "env/prod/obsolete.yaml",
                "env/test/obsolete.yaml",
            ],
            id="globs-under-directories",
        ),
        pytest.param(
            ["./out/**/*.bak"],
            ["apps/api/nested/deep.bak", "apps/api/tmp.bak", "apps/web/old.bak", "notes.bak"],
            id="glob-from-the-checkout-root",
        ),
        pytest.param(
            ["./out/env/${{ ctx.stage }}/*"],
            ["env/test/chart-values.yaml", "env/test/obsolete.yaml", "env/test/overrides.yaml"],
            id="every-file-of-a-directory",
        ),
    ],
)
async def test_delete_with_globs_removes_exactly_the_matches(
    world: EngineWorld, patterns: list[str], deleted: list[str]
) -> None:
    before = world.head()
    status = await world.promote(
        [
            clone(world),
            {
                "uses": "delete",
                "config": {"paths": patterns, "pathsAreGlobs": True, "strict": True},
            },
            *commit_and_push("delete"),
        ]
    )
    assert_succeeded(status)
    after = assert_pushed(world, status, before, "main")
    assert world.changes(before, after) == [f"D {path}" for path in deleted]
    assert world.files(after) == sorted(set(world.files(before)) - set(deleted))


# ---------------------------------------------------------------------------------------------
# tar and untar


async def test_tar_then_untar_round_trips_a_directory_into_the_checkout(world: EngineWorld) -> None:
    before = world.head()
    status = await world.promote(
        [
            clone(world),
            {
                "uses": "tar",
                "config": {"inPath": "./out/charts/app", "outPath": "./bundle/app.tgz"},
            },
            {
                "uses": "untar",
                "config": {
                    "inPath": "./bundle/app.tgz",
                    "outPath": "./out/vendor/app-copy",
                    "stripComponents": 1,
                },
            },
            *commit_and_push("vendor a copy of the chart"),
        ]
    )
    assert_succeeded(status)
    after = assert_pushed(world, status, before, "main")
    chart_files = [p.removeprefix("charts/app/") for p in SEED if p.startswith("charts/app/")]
    assert world.changes(before, after) == sorted(f"A vendor/app-copy/{p}" for p in chart_files)
    for rel in chart_files:
        assert world.show(after, f"vendor/app-copy/{rel}") == SEED[f"charts/app/{rel}"]
        assert world.mode(after, f"vendor/app-copy/{rel}") == world.mode(after, f"charts/app/{rel}")
    assert world.mode(after, "vendor/app-copy/scripts/check.sh") == "100755"


# ---------------------------------------------------------------------------------------------
# git-tag


async def test_git_tag_then_git_push_tag_creates_an_annotated_tag_on_the_server(
    world: EngineWorld,
) -> None:
    before = world.head()
    status = await world.promote(
        [
            clone(world),
            {
                "uses": "file-write",
                "config": {"path": "./out/VERSION", "contents": "${{ vars.version }}\n"},
            },
            *commit_and_push("release ${{ vars.version }}"),
            {
                "uses": "git-tag",
                "as": "tag",
                "config": {
                    "path": "./out",
                    "tag": "v${{ vars.version }}",
                    "message": "Release ${{ vars.version }}",
                },
            },
            {
                "uses": "git-push",
                "as": "pushTag",
                "config": {"path": "./out", "tag": "v${{ vars.version }}"},
            },
        ],
        variables={"version": "2.0.0"},
    )
    assert_succeeded(status)
    after = assert_pushed(world, status, before, "main")
    assert world.changes(before, after) == ["A VERSION"]
    assert world.show(after, "VERSION") == "2.0.0\n"
    assert status["state"]["tag"] == {"tag": "v2.0.0", "commit": after}
    assert status["state"]["pushTag"] == {"tag": "v2.0.0", "commit": after}
    described = world.git(
        "for-each-ref",
        "--format=%(objecttype)|%(*objectname)|%(contents)|%(taggername) %(taggeremail)",
        "refs/tags/v2.0.0",
    )
    assert described == f"tag|{after}|Release 2.0.0\n|{COMMITTER.name} <{COMMITTER.email}>\n"
    assert world.git("tag", "--list").split() == ["v2.0.0"]


# ---------------------------------------------------------------------------------------------
# helm-update-chart and helm-template


@pytest.fixture
def helm_available() -> None:
    """A helm binary or the in-process Helm SDK."""
    if shutil.which("helm") is not None:
        return
    try:
        importlib.import_module("helm_python")
    except ImportError:
        conftest.missing_component("helm, or the helm-python-sdk package (kargo[helm])")


@pytest.mark.usefixtures("helm_available")
async def test_helm_update_chart_vendors_the_dependency_into_the_checkout(
    world: EngineWorld, chart_repo: ChartRepo
) -> None:
    chart_repo.add("redis", "1.0.0", "1.1.0")
    umbrella = (
        "apiVersion: v2\nname: umbrella\nversion: 0.1.0\ndependencies:\n"
        f"- name: redis   # the cache\n  repository: {chart_repo.url}\n  version: 1.0.0\n"
    )
    before = world.seed({"charts/umbrella/Chart.yaml": umbrella}, "add umbrella")
    status = await world.promote(
        [
            clone(world),
            {
                "uses": "helm-update-chart",
                "as": "update",
                "config": {
                    "path": "./out/charts/umbrella",
                    "charts": [{"repository": chart_repo.url, "name": "redis", "version": "1.1.0"}],
                },
            },
            *commit_and_push("${{ outputs.update.commitMessage }}"),
        ]
    )
    assert_succeeded(status)
    after = assert_pushed(world, status, before, "main")
    assert world.changes(before, after) == [
        "A charts/umbrella/Chart.lock",
        "A charts/umbrella/charts/redis-1.1.0.tgz",
        "M charts/umbrella/Chart.yaml",
    ]
    assert world.show(after, "charts/umbrella/Chart.yaml") == umbrella.replace(
        "version: 1.0.0", "version: 1.1.0"
    )
    lock = yaml.safe_load(world.show(after, "charts/umbrella/Chart.lock"))
    assert [(d["name"], d["version"]) for d in lock["dependencies"]] == [("redis", "1.1.0")]
    vendored = world.git("cat-file", "-s", f"{after}:charts/umbrella/charts/redis-1.1.0.tgz")
    assert int(vendored) == (chart_repo.root / "redis-1.1.0.tgz").stat().st_size
    assert world.git("log", "-1", "--format=%B", after) == (
        "Updated chart dependencies for ./out/charts/umbrella\n\n- redis: 1.1.0\n\n"
    )


@pytest.mark.usefixtures("helm_available")
async def test_helm_template_renders_with_values_from_another_directory(
    world: EngineWorld,
) -> None:
    before = world.head()
    status = await world.promote(
        [
            clone(world),
            {
                "uses": "helm-template",
                "config": {
                    "path": "./out/charts/app",
                    "releaseName": "${{ ctx.stage }}",
                    "namespace": "demo-${{ ctx.stage }}",
                    "valuesFiles": ["./out/env/${{ ctx.stage }}/chart-values.yaml"],
                    "setValues": [{"key": "replicas", "value": "${{ quote(vars.replicas) }}"}],
                    "outPath": "./out/rendered/${{ ctx.stage }}/all.yaml",
                },
            },
            *commit_and_push("render ${{ ctx.stage }}"),
        ],
        variables={"replicas": "4"},
    )
    assert_succeeded(status)
    after = assert_pushed(world, status, before, "main")
    assert world.changes(before, after) == ["A rendered/test/all.yaml"]
    rendered = [d for d in yaml.safe_load_all(world.show(after, "rendered/test/all.yaml")) if d]
    assert rendered == [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "test-app", "namespace": "demo-test"},
            "data": {"greeting": "hello from test", "replicas": "4"},
        }
    ]


# ---------------------------------------------------------------------------------------------
# how steps' paths combine in one lazy checkout


async def test_edits_survive_later_steps_checking_out_their_parent_directories(
    world: EngineWorld,
) -> None:
    before = world.head()
    status = await world.promote(
        [
            clone(world),
            {
                "uses": "yaml-update",
                "config": {
                    "path": "./out/apps/api/nested/keep.yaml",
                    "updates": [{"key": "kept", "value": False}],
                },
            },
            {"uses": "delete", "config": {"path": "./out/apps/api/nested/deep.bak"}},
            # copy checks out apps/api, around the nested directory already edited
            {"uses": "copy", "config": {"inPath": "./out/apps/api", "outPath": "./out/apps/v2"}},
            {"uses": "delete", "config": {"path": "./out/env/prod", "strict": True}},
            *commit_and_push("rework apps"),
        ]
    )
    assert_succeeded(status)
    after = assert_pushed(world, status, before, "main")
    assert world.changes(before, after) == [
        "A apps/v2/config.json",
        "A apps/v2/nested/keep.yaml",
        "A apps/v2/settings.toml",
        "A apps/v2/tmp.bak",
        "A apps/v2/values.yaml",
        "D apps/api/nested/deep.bak",
        "D env/prod/obsolete.yaml",
        "D env/prod/overrides.yaml",
        "M apps/api/nested/keep.yaml",
    ]
    assert world.show(after, "apps/api/nested/keep.yaml") == "kept: false\n"
    assert world.show(after, "apps/v2/nested/keep.yaml") == "kept: false\n"
    assert world.show(after, "apps/v2/values.yaml") == API_VALUES


@pytest.mark.parametrize(
    ("link", "target", "path"),
    [
        pytest.param(
            "env/test/values.yaml",
            "../../apps/api/values.yaml",
            "./out/env/test/values.yaml",
            id="a-stage-file-linked-to-a-shared-file",
        ),
        pytest.param("current", "apps/api", "./out/current/values.yaml", id="a-linked-directory"),
    ],
)
async def test_a_step_reads_and_edits_a_file_through_a_symlink_of_the_repository(
    world: EngineWorld, link: str, target: str, path: str
) -> None:
    """Git stores symlinks; a step's path through one reaches the file it points to, as it does
    with lazy checkouts off (KARGO_GIT_LAZY_CHECKOUT=false)."""
    writer = world.server.writer("gitops")
    (writer.work / link).symlink_to(target)
    before = writer.commit({}, f"link {link} to {target}")
    status = await world.promote(
        [
            clone(world),
            {
                "uses": "yaml-parse",
                "as": "parsed",
                "config": {
                    "path": path,
                    "outputs": [{"name": "replicas", "fromExpression": "replicas"}],
                },
            },
            {
                "uses": "yaml-update",
                "config": {"path": path, "updates": [{"key": "replicas", "value": 7}]},
            },
            *commit_and_push("scale through ${{ vars.link }}"),
        ],
        variables={"link": link},
    )
    assert_succeeded(status)
    assert status["state"]["parsed"] == {"replicas": 2}
    after = assert_pushed(world, status, before, "main")
    assert world.changes(before, after) == ["M apps/api/values.yaml"]
    assert world.show(after, "apps/api/values.yaml") == API_VALUES.replace(
        "replicas: 2", "replicas: 7"
    )
    assert world.mode(after, link) == "120000"  # the link itself is still a link
