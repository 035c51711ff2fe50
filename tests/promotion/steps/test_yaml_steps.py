"""yaml-update, yaml-parse and yaml-merge: behaviour beyond the golden trees."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from kargo import errors
from kargo.promotion import workdir
from kargo.promotion.steps import yaml as yaml_steps
from tests import conftest
from tests.promotion.steps import helpers

EXAMPLES = helpers.REFERENCE / "examples"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


async def test_yaml_update_sets_values_and_reports_a_kargo_commit_message(tmp_path):
    _write(tmp_path, "values.yaml", "image:\n  tag: old\n")
    result = await helpers.run_step(
        "yaml-update",
        {"path": "values.yaml", "updates": [{"key": "image.tag", "value": "true"}]},
        helpers.make_ctx(tmp_path),
    )
    assert (tmp_path / "values.yaml").read_text() == 'image:\n  tag: "true"\n'
    assert result.output == {"commitMessage": 'Updated values.yaml\n\n- image.tag: "true"'}


async def test_yaml_update_creates_missing_keys_and_appends_with_minus_one(tmp_path):
    _write(tmp_path, "v.yaml", "a:\n  b: 1\nlist:\n- x\n")
    await helpers.run_step(
        "yaml-update",
        {
            "path": "v.yaml",
            "updates": [
                {"key": "a.c.d", "value": "new"},
                {"key": "list.-1", "value": "y"},
                {"key": "top", "value": 5},
            ],
        },
        helpers.make_ctx(tmp_path),
    )
    assert (tmp_path / "v.yaml").read_text() == (
        "a:\n  b: 1\n  c:\n    d: new\nlist:\n- x\n- y\ntop: 5\n"
    )


async def test_yaml_update_replaces_a_collection_through_a_round_trip(tmp_path):
    _write(tmp_path, "v.yaml", "# keep me\nports: [80, 443]\nname: x\n")
    await helpers.run_step(
        "yaml-update",
        {"path": "v.yaml", "updates": [{"key": "ports", "value": [8080]}]},
        helpers.make_ctx(tmp_path),
    )
    text = (tmp_path / "v.yaml").read_text()
    assert text.startswith("# keep me\n")
    assert "8080" in text
    assert "443" not in text
    assert "name: x" in text


async def test_yaml_update_on_a_missing_file_is_terminal(tmp_path):
    with pytest.raises(errors.TerminalStepError, match="not found"):
        await helpers.run_step(
            "yaml-update",
            {"path": "nope.yaml", "updates": [{"key": "a", "value": 1}]},
            helpers.make_ctx(tmp_path),
        )


async def test_yaml_update_with_a_bad_index_names_the_key(tmp_path):
    _write(tmp_path, "v.yaml", "list:\n- a\n")
    with pytest.raises(errors.TerminalStepError, match="list.x"):
        await helpers.run_step(
            "yaml-update",
            {"path": "v.yaml", "updates": [{"key": "list.x", "value": 1}]},
            helpers.make_ctx(tmp_path),
        )


async def test_yaml_update_refuses_paths_outside_the_work_dir(tmp_path):
    with pytest.raises(errors.TerminalStepError, match="outside the work directory"):
        await helpers.run_step(
            "yaml-update",
            {"path": "../values.yaml", "updates": [{"key": "a", "value": 1}]},
            helpers.make_ctx(tmp_path),
        )


def test_only_the_first_document_of_a_stream_is_edited():
    text = "a: 1\n---\na: 1\n"
    upd = yaml_steps.Update("a", ["a"], 2)
    assert yaml_steps.update_text(text, [upd]) == "a: 2\n---\na: 1\n"


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("1.2.3", "1.2.3"),
        ("1.20", '"1.20"'),
        ("yes", '"yes"'),
        ("a: b", '"a: b"'),
        (7, "7"),
        (None, "null"),
        (False, "false"),
    ],
)
def test_values_are_quoted_only_when_yaml_would_misread_them(value, rendered):
    assert workdir.quote_if_necessary(value) == rendered


def _examples() -> list[Path]:
    return sorted(p for p in EXAMPLES.rglob("*.yaml"))


def test_kargos_example_manifests_are_there_to_measure_against():
    if not _examples():
        conftest.missing_component(f"Kargo's example manifests in {EXAMPLES}")


@pytest.mark.parametrize("path", _examples(), ids=lambda p: p.name)
def test_adding_a_key_to_a_real_manifest_changes_only_that_line(path):
    """Measured on Kargo's own example manifests: the text editor never touches other lines."""
    text = path.read_text()
    first = text.split("\n---", 1)[0] if "\n---" in text.lstrip("-\n") else text
    if not first.strip() or not isinstance(workdir.safe_load(first), dict):
        pytest.fail(f"{path} is not a mapping")  # every example is a Kubernetes object
    edit = workdir.YAMLEdit("metadata.annotations", ["metadata", "annotations"], {"k": "v"})
    try:
        out = workdir.edit_yaml(text, [edit])
    except workdir.NeedsStructuralEdit:
        edit = workdir.YAMLEdit("metadata.labelz", ["metadata", "labelz"], "v")
        out = workdir.edit_yaml(text, [edit])
    changed = [
        line
        for line in difflib.unified_diff(text.splitlines(), out.splitlines(), lineterm="")
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed
    assert all(line.startswith("+") for line in changed), changed


async def test_yaml_parse_evaluates_expressions_against_the_file(tmp_path):
    _write(tmp_path, "Chart.yaml", "name: api\nversion: 1.2.3\ndependencies:\n- name: redis\n")
    result = await helpers.run_step(
        "yaml-parse",
        {
            "path": "Chart.yaml",
            "outputs": [
                {"name": "version", "fromExpression": "version"},
                {"name": "firstDep", "fromExpression": "dependencies[0].name"},
                {"name": "label", "fromExpression": 'name + "-" + version'},
            ],
        },
        helpers.make_ctx(tmp_path),
    )
    assert result.output == {"version": "1.2.3", "firstDep": "redis", "label": "api-1.2.3"}


async def test_yaml_parse_with_a_broken_expression_names_the_output(tmp_path):
    _write(tmp_path, "a.yaml", "a: 1\n")
    with pytest.raises(errors.TerminalStepError, match="output 'x'"):
        await helpers.run_step(
            "yaml-parse",
            {"path": "a.yaml", "outputs": [{"name": "x", "fromExpression": "a +"}]},
            helpers.make_ctx(tmp_path),
        )


async def test_yaml_merge_fails_on_a_missing_file_unless_told_to_ignore_it(tmp_path):
    _write(tmp_path, "a.yaml", "a: 1\n")
    cfg = {"inFiles": ["a.yaml", "b.yaml"], "outFile": "out/m.yaml"}
    with pytest.raises(errors.TerminalStepError, match="ignoreMissingFiles"):
        await helpers.run_step("yaml-merge", cfg, helpers.make_ctx(tmp_path))
    result = await helpers.run_step(
        "yaml-merge", {**cfg, "ignoreMissingFiles": True}, helpers.make_ctx(tmp_path)
    )
    assert (tmp_path / "out/m.yaml").read_text() == "a: 1\n"
    # as Kargo: only the files merged are listed, never those skipped as missing
    assert result.output["commitMessage"] == "Wrote a.yaml to out/m.yaml"


async def test_yaml_merge_of_only_missing_files_writes_an_empty_file(tmp_path):
    result = await helpers.run_step(
        "yaml-merge",
        {"inFiles": ["x.yaml"], "outFile": "m.yaml", "ignoreMissingFiles": True},
        helpers.make_ctx(tmp_path),
    )
    assert (tmp_path / "m.yaml").read_text() == ""
    assert result.output == {}  # Kargo sets no commit message when nothing was merged


def test_deep_merge_merges_mappings_and_replaces_everything_else():
    base = {"a": {"b": 1, "c": [1]}, "d": 1}
    assert yaml_steps.deep_merge(base, {"a": {"c": [2], "e": 3}, "d": None}) == {
        "a": {"b": 1, "c": [2], "e": 3},
        "d": None,
    }


def test_deep_merge_never_merges_into_an_anchor_through_a_merge_key_or_an_alias():
    loaded = workdir.load_yaml(
        "defaults: &d\n  res: {cpu: 1}\nweb:\n  <<: *d\n  port: 80\nalias: *d\n"
    )
    overlay = workdir.load_yaml("web:\n  res: {mem: 2}\nalias:\n  image: b\n")
    loaded.docs[0] = yaml_steps.deep_merge(loaded.docs[0], overlay.docs[0])
    assert loaded.dump() == (
        "defaults: &d\n  res: {cpu: 1}\nweb:\n  <<: *d\n  port: 80\n  res: {mem: 2}\n"
        "alias:\n  image: b\n"
    )


async def test_yaml_merge_lists_every_merged_file_in_kargos_format(tmp_path):
    _write(tmp_path, "a.yaml", "a: 1\n")
    _write(tmp_path, "b.yaml", "b: 2\n")
    result = await helpers.run_step(
        "yaml-merge",
        {
            "inFiles": ["a.yaml", "gone.yaml", "b.yaml"],
            "outFile": "m.yaml",
            "ignoreMissingFiles": True,
        },
        helpers.make_ctx(tmp_path),
    )
    assert result.output == {"commitMessage": "Merged 2 YAML files to m.yaml\n- a.yaml\n- b.yaml"}


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"inFiles": ["a.yaml"], "outFile": "dir"}, "outFile 'dir' is a directory"),
        ({"inFiles": ["a.yaml"], "outFile": "file/m.yaml"}, "'file' is a file, not a directory"),
        (
            {"inFiles": ["a.yaml", "dir"], "outFile": "m.yaml", "ignoreMissingFiles": True},
            "input file 'dir' is a directory",
        ),
        ({"inFiles": ["a.yaml", "bad.yaml"], "outFile": "m.yaml"}, "'bad.yaml' is not valid YAML"),
    ],
    ids=["out-is-a-directory", "out-under-a-file", "input-is-a-directory", "invalid-input"],
)
async def test_yaml_merge_failures_say_what_is_wrong_and_write_nothing(tmp_path, config, words):
    _write(tmp_path, "a.yaml", "a: 1\n")
    _write(tmp_path, "bad.yaml", "a: [\n")
    _write(tmp_path, "file", "x")
    (tmp_path / "dir").mkdir()
    with pytest.raises(errors.TerminalStepError, match=words):
        await helpers.run_step("yaml-merge", config, helpers.make_ctx(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml", "bad.yaml", "dir", "file"]
    assert list((tmp_path / "dir").iterdir()) == []


@pytest.mark.parametrize("step", ["yaml-update", "yaml-parse"])
async def test_yaml_steps_on_a_directory_say_so(tmp_path, step):
    (tmp_path / "values").mkdir()
    config = (
        {"path": "values", "updates": [{"key": "a", "value": 1}]}
        if step == "yaml-update"
        else {"path": "values", "outputs": [{"name": "a", "fromExpression": "a"}]}
    )
    with pytest.raises(errors.TerminalStepError, match="'values' is a directory"):
        await helpers.run_step(step, config, helpers.make_ctx(tmp_path))


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        # Kargo's pkg/yaml/update.go drops a leading colon: the part is a mapping key
        ("a: {}\n", "a.:0", "a:\n  '0': S\n"),
        ("x: 1\n", "a.:0", "x: 1\na:\n  '0': S\n"),
        # and new structure is always a mapping, even for a number
        ("x: 1\n", "a.0", "x: 1\na:\n  '0': S\n"),
        # an index past the end appends one item (no null padding, unlike sjson)
        ("l:\n- A\n- C\n", "l.4", "l:\n- A\n- C\n- S\n"),
        ("l: [A, C]\n", "l.4", "l: [A, C, S]\n"),
        ("l: [A, C]\n", "l.:1", "l: [A, S]\n"),
    ],
)
def test_yaml_key_paths_follow_kargos_update_go(text, key, expected):
    update = yaml_steps.Update(key, workdir.split_key(key), "S")
    assert yaml_steps.update_text(text, [update]) == expected
