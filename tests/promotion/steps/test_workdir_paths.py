"""Safe path resolution, key-path parsing and the golden directory differ."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from kargo import errors
from kargo.promotion import workdir
from tests.promotion.steps import helpers


def test_relative_paths_resolve_inside_the_work_dir(tmp_path):
    assert workdir.resolve(tmp_path, "./src/values.yaml") == tmp_path.resolve() / "src/values.yaml"
    assert workdir.resolve(tmp_path, "a/../b") == tmp_path.resolve() / "b"
    assert workdir.resolve(tmp_path, ".") == tmp_path.resolve()


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/etc/passwd", "absolute"),
        ("../outside", "outside the work directory"),
        ("a/../../outside", "outside the work directory"),
        ("", "empty"),
    ],
)
def test_escaping_paths_are_refused_with_a_terminal_error(tmp_path, path, words):
    with pytest.raises(errors.TerminalStepError, match=words):
        workdir.resolve(tmp_path, path)


def test_a_symlink_that_leads_out_of_the_work_dir_is_refused(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "secret").write_text("x")
    os.symlink(tmp_path / "secret", work / "link")
    os.symlink(tmp_path, work / "dirlink")
    with pytest.raises(errors.TerminalStepError, match="symbolic link"):
        workdir.resolve(work, "link")
    with pytest.raises(errors.TerminalStepError, match="symbolic link"):
        workdir.resolve(work, "dirlink/secret")


def test_a_symlink_inside_the_work_dir_is_allowed_and_not_dereferenced(tmp_path):
    (tmp_path / "real.yaml").write_text("a: 1\n")
    os.symlink("real.yaml", tmp_path / "alias.yaml")
    assert workdir.resolve(tmp_path, "alias.yaml").name == "alias.yaml"


@pytest.mark.parametrize(
    ("key", "parts"),
    [
        ("image.tag", ["image", "tag"]),
        ("containers.0.image", ["containers", "0", "image"]),
        ("example\\.com/version", ["example.com/version"]),
        ("configs.example\\.com/feature.enabled", ["configs", "example.com/feature", "enabled"]),
        ("path\\\\to.file", ["path\\to", "file"]),
        ("a.:0.b", ["a", "0", "b"]),
        ("  spaced.key  ", ["spaced", "key"]),
    ],
)
def test_keys_split_like_kargo(key, parts):
    assert workdir.split_key(key) == parts


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("a..b", "empty key part"),
        ("a.", "empty key part"),
        ("a\\x", "invalid escape"),
        ("a:b", "colon"),
    ],
)
def test_malformed_keys_are_terminal_errors(key, words):
    with pytest.raises(errors.TerminalStepError, match=words):
        workdir.split_key(key)


def test_differ_reports_files_on_one_side_and_line_ending_changes(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a/only-a.txt").write_text("x")
    (tmp_path / "b/only-b.txt").write_text("y")
    (tmp_path / "a/same.txt").write_bytes(b"line\r\n")
    (tmp_path / "b/same.txt").write_bytes(b"line\n")
    report = helpers.diff_trees(tmp_path / "a", tmp_path / "b")
    assert "only in actual: only-a.txt" in report
    assert "only in expected: only-b.txt" in report
    assert "-line\n+line\\r" in report


def test_differ_is_silent_for_equal_trees(tmp_path):
    for side in ("a", "b"):
        (tmp_path / side / "d").mkdir(parents=True)
        (tmp_path / side / "d/f.yaml").write_text("k: v\n")
    assert helpers.diff_trees(tmp_path / "a", tmp_path / "b") == ""


def test_promotion_work_dirs_are_created_and_removed(tmp_path):
    promo = {"metadata": {"namespace": "demo", "name": "test.01"}}
    path = workdir.ensure(tmp_path, promo)
    assert path.is_dir()
    assert path == tmp_path / "demo" / "test.01"
    workdir.remove(tmp_path, promo)
    assert not path.exists()


def test_indentation_is_detected_from_the_file():
    text = "a:\n    b:\n        - x: 1\n          y: 2\n"
    assert workdir.detect_indentation(text) == workdir.Indentation(mapping=4, sequence=6, offset=4)
    assert workdir.detect_indentation("a:\n  b: 1\nl:\n- 1\n") == workdir.Indentation(2, 2, 0)


def test_resolving_below_the_root_agrees_with_realpath_through_any_symlinks(tmp_path):
    root = os.path.realpath(tmp_path)
    os.makedirs(f"{root}/a/b/c")
    Path(f"{root}/a/f").write_text("x")
    os.symlink("b", f"{root}/a/lb")
    os.symlink("/etc", f"{root}/a/out")
    os.symlink("../a", f"{root}/a/b/up")
    os.symlink("loop", f"{root}/loop")
    os.symlink("f", f"{root}/a/lf")
    names = ["a", "b", "c", "f", "lb", "out", "up", "loop", "lf", "missing"]
    for rel in itertools.product(names, repeat=3):
        relative = os.path.normpath("/".join(rel))
        expected = os.path.realpath(os.path.join(root, relative))
        assert workdir._realpath_below(root, relative) == expected, relative
