"""copy, delete, file-write, tar and untar, including archives built to escape."""

from __future__ import annotations

import io
import os
import stat
import tarfile

import pytest

from kargo import errors
from kargo.promotion.steps import archives, file_rules
from tests.promotion.steps import helpers


def _tree(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


async def _run(step, cfg, work):
    return await helpers.run_step(step, cfg, helpers.make_ctx(work))


# --- copy -------------------------------------------------------------------------------------


async def test_copy_merges_a_directory_and_honours_gitignore_patterns(tmp_path):
    src = tmp_path / "src"
    (src / "charts/app").mkdir(parents=True)
    (src / "charts/app/values.yaml").write_text("a: 1\n")
    (src / "charts/app/debug.log").write_text("x")
    (src / "tmp").mkdir()
    (src / "tmp/scratch").write_text("x")
    (src / ".git").mkdir()
    (src / ".git/HEAD").write_text("ref")
    (tmp_path / "out").mkdir()
    (tmp_path / "out/existing.txt").write_text("keep")
    await _run(
        "copy", {"inPath": "src", "outPath": "out", "ignore": "*.log\n# comment\ntmp/\n"}, tmp_path
    )
    assert _tree(tmp_path / "out") == ["charts/app/values.yaml", "existing.txt"]


async def test_copy_of_a_file_creates_parents_and_overwrites(tmp_path):
    (tmp_path / "a.txt").write_text("new")
    (tmp_path / "d").mkdir()
    (tmp_path / "d/b.txt").write_text("old")
    await _run("copy", {"inPath": "a.txt", "outPath": "d/b.txt"}, tmp_path)
    await _run("copy", {"inPath": "a.txt", "outPath": "x/y/c.txt"}, tmp_path)
    assert (tmp_path / "d/b.txt").read_text() == "new"
    assert (tmp_path / "x/y/c.txt").read_text() == "new"


async def test_copy_skips_symlinks_so_nothing_outside_is_pulled_in(tmp_path):
    work = tmp_path / "work"
    (work / "src").mkdir(parents=True)
    (tmp_path / "secret").write_text("s")
    os.symlink(tmp_path / "secret", work / "src/leak")
    (work / "src/ok").write_text("ok")
    await _run("copy", {"inPath": "src", "outPath": "out"}, work)
    assert _tree(work / "out") == ["ok"]


async def test_copy_of_a_missing_path_says_which(tmp_path):
    with pytest.raises(errors.StepError, match="inPath 'nope'"):
        await _run("copy", {"inPath": "nope", "outPath": "x"}, tmp_path)


# --- delete -----------------------------------------------------------------------------------


async def test_delete_removes_files_and_directories_and_ignores_missing_ones(tmp_path):
    (tmp_path / "d/sub").mkdir(parents=True)
    (tmp_path / "d/sub/f").write_text("x")
    (tmp_path / "f").write_text("x")
    await _run("delete", {"paths": ["d", "f", "missing"]}, tmp_path)
    assert list(tmp_path.iterdir()) == []


async def test_delete_strict_fails_on_a_missing_path(tmp_path):
    with pytest.raises(errors.StepError, match="does not exist"):
        await _run("delete", {"path": "missing", "strict": True}, tmp_path)


async def test_delete_with_globs_matches_recursively(tmp_path):
    for rel in ("a/x.yaml", "a/b/y.yaml", "a/b/keep.txt", ".hidden.yaml"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    await _run("delete", {"path": "**/*.yaml", "pathsAreGlobs": True}, tmp_path)
    assert _tree(tmp_path) == ["a/b/keep.txt"]
    with pytest.raises(errors.StepError, match="matched nothing"):
        await _run("delete", {"path": "*.json", "pathsAreGlobs": True, "strict": True}, tmp_path)


async def test_delete_removes_a_symlink_not_its_target(tmp_path):
    (tmp_path / "target").write_text("x")
    os.symlink("target", tmp_path / "link")
    await _run("delete", {"path": "link"}, tmp_path)
    assert (tmp_path / "target").exists()
    assert not os.path.lexists(tmp_path / "link")


async def test_delete_refuses_globs_that_leave_the_work_dir(tmp_path):
    with pytest.raises(errors.TerminalStepError, match="outside"):
        await _run("delete", {"path": "../*", "pathsAreGlobs": True}, tmp_path)


async def test_delete_globs_leave_a_checkouts_git_metadata_alone(tmp_path):
    for rel in ("out/a.yaml", "out/.git", "out/.gitignore"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    await _run("delete", {"path": "out/*", "pathsAreGlobs": True}, tmp_path)
    assert _tree(tmp_path) == ["out/.git"]
    await _run("delete", {"path": "out/**", "pathsAreGlobs": True}, tmp_path)
    assert _tree(tmp_path) == []  # deleting a whole checkout is fine


@pytest.mark.parametrize(
    ("step", "config"),
    [
        ("file-write", {"path": "out/.git", "contents": "{}", "overwrite": True}),
        ("delete", {"path": "./out/.git"}),
        ("copy", {"inPath": "evil", "outPath": "out/.git"}),
        ("file-write", {"path": "out/sub/../.git/HEAD", "contents": "x"}),
    ],
)
async def test_no_step_touches_a_checkouts_git_metadata(tmp_path, step, config):
    (tmp_path / "out").mkdir()
    (tmp_path / "out/.git").write_text("gitdir: /somewhere\n")
    (tmp_path / "evil").write_text("{}")
    with pytest.raises(errors.TerminalStepError, match=r"inside a checkout's \.git"):
        await _run(step, config, tmp_path)
    assert (tmp_path / "out/.git").read_text() == "gitdir: /somewhere\n"


# --- file-write -------------------------------------------------------------------------------


async def test_file_write_creates_with_0600_and_refuses_to_overwrite_by_default(tmp_path):
    await _run("file-write", {"path": "out/a.txt", "contents": "hello\n"}, tmp_path)
    path = tmp_path / "out/a.txt"
    assert path.read_text() == "hello\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(errors.TerminalStepError, match="overwrite: true"):
        await _run("file-write", {"path": "out/a.txt", "contents": "again"}, tmp_path)
    await _run(
        "file-write",
        {"path": "out/a.txt", "contents": "again", "overwrite": True, "permissions": "0644"},
        tmp_path,
    )
    assert path.read_text() == "again"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


# --- tar / untar ------------------------------------------------------------------------------


async def test_tar_then_untar_round_trips_a_directory(tmp_path):
    (tmp_path / "src/sub").mkdir(parents=True)
    (tmp_path / "src/a.txt").write_text("a")
    (tmp_path / "src/sub/b.txt").write_text("b")
    (tmp_path / "src/skip.log").write_text("x")
    await _run("tar", {"inPath": "src", "outPath": "dist/src.tgz", "ignore": "*.log"}, tmp_path)
    with tarfile.open(tmp_path / "dist/src.tgz") as tf:
        assert sorted(tf.getnames()) == ["src", "src/a.txt", "src/sub", "src/sub/b.txt"]
    await _run("untar", {"inPath": "dist/src.tgz", "outPath": "x"}, tmp_path)
    assert _tree(tmp_path / "x") == ["src/a.txt", "src/sub/b.txt"]
    await _run("untar", {"inPath": "dist/src.tgz", "outPath": "y", "stripComponents": 1}, tmp_path)
    assert _tree(tmp_path / "y") == ["a.txt", "sub/b.txt"]


async def test_tar_output_is_reproducible(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src/a.txt").write_text("a")
    await _run("tar", {"inPath": "src", "outPath": "one.tgz"}, tmp_path)
    os.utime(tmp_path / "src/a.txt", (1, 1))
    await _run("tar", {"inPath": "src", "outPath": "two.tgz"}, tmp_path)
    assert (tmp_path / "one.tgz").read_bytes() == (tmp_path / "two.tgz").read_bytes()


async def test_uncompressed_tar_and_untar_ignore(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src/a.txt").write_text("a")
    (tmp_path / "src/b.md").write_text("b")
    await _run("tar", {"inPath": "src", "outPath": "src.tar", "gzip": False}, tmp_path)
    assert (tmp_path / "src.tar").read_bytes()[:2] != b"\x1f\x8b"
    await _run("untar", {"inPath": "src.tar", "outPath": "o", "ignore": "*.md"}, tmp_path)
    assert _tree(tmp_path / "o") == ["src/a.txt"]


def _archive(path, members):
    with tarfile.open(path, "w:gz") as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)


def _file(name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


@pytest.mark.parametrize(
    ("members", "words"),
    [
        ([_file("../evil")], "escape"),
        ([_file("a/../../evil")], "escape"),
        ([_file("/etc/evil")], "absolute"),
        ([_link("l", "/etc/passwd")], "symbolic link"),
        ([_link("l", "../../outside")], "symbolic link"),
        ([_link("d", ".."), _file("d/evil")], "symbolic link"),
        ([_link("h", "/etc/passwd", tarfile.LNKTYPE)], "absolute"),
        ([_link("h", "missing", tarfile.LNKTYPE)], "hard link"),
        ([_file(".git", b'{"kargoLazyCheckout": 1}')], r"inside a \.git"),
        ([_file("sub/.git/config")], r"inside a \.git"),
    ],
    ids=[
        "dotdot",
        "nested-dotdot",
        "absolute",
        "symlink-absolute",
        "symlink-up",
        "symlink-dir-then-file",
        "hardlink-absolute",
        "hardlink-nowhere",
        "git-metadata",
        "nested-git-metadata",
    ],
)
async def test_untar_refuses_entries_that_would_escape(tmp_path, members, words):
    work = tmp_path / "work"
    work.mkdir()
    _archive(work / "evil.tgz", members)
    with pytest.raises(errors.TerminalStepError, match=words):
        await _run("untar", {"inPath": "evil.tgz", "outPath": "out"}, work)
    assert not (tmp_path / "evil").exists()


async def test_untar_leaves_git_metadata_out_when_told_to(tmp_path):
    _archive(tmp_path / "repo.tgz", [_file("repo/.git/HEAD"), _file("repo/a.txt")])
    await _run("untar", {"inPath": "repo.tgz", "outPath": "out", "ignore": ".git"}, tmp_path)
    assert _tree(tmp_path / "out") == ["repo/a.txt"]


async def test_untar_keeps_links_that_stay_inside(tmp_path):
    _archive(
        tmp_path / "ok.tgz",
        [
            _file("pkg/real.txt", b"data"),
            _link("pkg/sym", "real.txt"),
            _link("pkg/hard", "pkg/real.txt", tarfile.LNKTYPE),
        ],
    )
    await _run("untar", {"inPath": "ok.tgz", "outPath": "out"}, tmp_path)
    assert (tmp_path / "out/pkg/sym").read_text() == "data"
    assert (tmp_path / "out/pkg/hard").read_text() == "data"


# --- failures are found before anything is written ---------------------------------------------


def _snapshot(root):
    return sorted((p.relative_to(root).as_posix(), p.is_dir()) for p in root.rglob("*"))


@pytest.mark.parametrize("out", ["a/b", "a/b/c", "a/.", "a"])
async def test_copy_into_itself_is_refused_before_anything_is_written(tmp_path, out):
    (tmp_path / "a/b").mkdir(parents=True)
    (tmp_path / "a/f.txt").write_text("x")
    before = _snapshot(tmp_path)
    with pytest.raises(errors.TerminalStepError, match="inside inPath 'a'|are the same"):
        await _run("copy", {"inPath": "a", "outPath": out}, tmp_path)
    assert _snapshot(tmp_path) == before


async def test_copy_into_itself_through_a_symlink_is_refused(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a/f.txt").write_text("x")
    os.symlink("a", tmp_path / "alias")
    with pytest.raises(errors.TerminalStepError, match="inside inPath"):
        await _run("copy", {"inPath": "a", "outPath": "alias/copy"}, tmp_path)
    assert not (tmp_path / "a/copy").exists()


async def test_copy_of_a_directory_onto_a_file_says_so_and_writes_nothing(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src/a.txt").write_text("a")
    (tmp_path / "out").write_text("a file")
    with pytest.raises(
        errors.TerminalStepError, match="'out' is a file, where the copy needs a directory"
    ):
        await _run("copy", {"inPath": "src", "outPath": "out"}, tmp_path)
    assert (tmp_path / "out").read_text() == "a file"


async def test_copy_conflict_deep_in_the_tree_is_found_before_the_first_file_is_copied(tmp_path):
    (tmp_path / "src/x").mkdir(parents=True)
    (tmp_path / "src/a.txt").write_text("a")
    (tmp_path / "src/x/y.txt").write_text("y")
    (tmp_path / "src/d.txt").write_text("d")
    (tmp_path / "out/d.txt").mkdir(parents=True)
    (tmp_path / "out/x").write_text("a file where a directory goes")
    with pytest.raises(
        errors.TerminalStepError, match="'out/x' is a file, where the copy needs a directory"
    ):
        await _run("copy", {"inPath": "src", "outPath": "out"}, tmp_path)
    assert _tree(tmp_path / "out") == ["x"]
    (tmp_path / "out/x").unlink()
    with pytest.raises(
        errors.TerminalStepError, match="'out/d.txt' is a directory, where the copy writes a file"
    ):
        await _run("copy", {"inPath": "src", "outPath": "out"}, tmp_path)
    assert _tree(tmp_path / "out") == []


async def test_copy_under_a_file_says_which_file_is_in_the_way(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "f").write_text("x")
    with pytest.raises(errors.TerminalStepError, match="'f' is a file, not a directory"):
        await _run("copy", {"inPath": "a.txt", "outPath": "f/a.txt"}, tmp_path)


async def test_copy_of_a_file_onto_a_directory_is_terminal_and_names_the_fix(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "d").mkdir()
    with pytest.raises(errors.TerminalStepError, match=r"give its path there \(d/a.txt\)"):
        await _run("copy", {"inPath": "a.txt", "outPath": "d"}, tmp_path)


async def test_copy_never_writes_through_a_destination_symlink_that_leads_out(tmp_path):
    work = tmp_path / "work"
    (work / "src/sub").mkdir(parents=True)
    (work / "src/sub/f.txt").write_text("f")
    (work / "src/g.txt").write_text("g")
    (tmp_path / "outside").mkdir()
    (work / "out").mkdir()
    os.symlink(tmp_path / "outside", work / "out/sub")
    os.symlink(tmp_path / "outside/g.txt", work / "out/g.txt")
    with pytest.raises(errors.TerminalStepError, match="leading outside the work directory"):
        await _run("copy", {"inPath": "src", "outPath": "out"}, work)
    assert list((tmp_path / "outside").iterdir()) == []


async def test_copy_to_itself_is_refused(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    with pytest.raises(errors.TerminalStepError, match="are the same"):
        await _run("copy", {"inPath": "a.txt", "outPath": "./a.txt"}, tmp_path)


async def test_delete_checks_every_path_before_deleting_any(tmp_path):
    (tmp_path / "a").write_text("x")
    with pytest.raises(errors.TerminalStepError, match="'missing' does not exist"):
        await _run("delete", {"paths": ["a", "missing"], "strict": True}, tmp_path)
    assert (tmp_path / "a").exists()


@pytest.mark.parametrize("pattern", [".", "*/..", "./"])
async def test_delete_globs_never_match_the_work_directory_itself(tmp_path, pattern):
    (tmp_path / "d").mkdir()
    (tmp_path / "keep").write_text("x")
    with pytest.raises(errors.TerminalStepError, match="work directory itself"):
        await _run("delete", {"path": pattern, "pathsAreGlobs": True}, tmp_path)
    assert (tmp_path / "keep").exists()


async def test_file_write_under_a_file_says_which_file_is_in_the_way(tmp_path):
    (tmp_path / "conf").write_text("x")
    with pytest.raises(errors.TerminalStepError, match="'conf' is a file, not a directory"):
        await _run("file-write", {"path": "conf/x", "contents": "y"}, tmp_path)
    assert (tmp_path / "conf").read_text() == "x"


async def test_file_write_onto_a_directory_is_terminal(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(errors.TerminalStepError, match="'d' is a directory"):
        await _run("file-write", {"path": "d", "contents": "y", "overwrite": True}, tmp_path)


async def test_tar_onto_a_directory_is_terminal_and_leaves_nothing_behind(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src/a.txt").write_text("a")
    (tmp_path / "dist").mkdir()
    before = _snapshot(tmp_path)
    with pytest.raises(errors.TerminalStepError, match=r"for example dist/src\.tgz"):
        await _run("tar", {"inPath": "src", "outPath": "dist"}, tmp_path)
    assert _snapshot(tmp_path) == before


async def test_tar_under_a_file_is_terminal(tmp_path):
    (tmp_path / "src").write_text("a")
    (tmp_path / "dist").write_text("x")
    with pytest.raises(errors.TerminalStepError, match="'dist' is a file, not a directory"):
        await _run("tar", {"inPath": "src", "outPath": "dist/a.tgz"}, tmp_path)


def test_a_tar_that_fails_half_way_removes_its_temporary_file(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src/a.txt").write_text("a")
    (tmp_path / "dist/out.tgz").mkdir(parents=True)  # the final rename fails
    spec = file_rules.ignore_spec(None, always_git=False)
    with pytest.raises(IsADirectoryError):
        archives.write_tar(tmp_path / "src", tmp_path / "dist/out.tgz", spec, compress=True)
    assert [p.name for p in (tmp_path / "dist").iterdir()] == ["out.tgz"]


async def test_untar_into_a_file_is_terminal(tmp_path):
    _archive(tmp_path / "a.tgz", [_file("x")])
    (tmp_path / "out").write_text("x")
    with pytest.raises(errors.TerminalStepError, match="outPath 'out' is a file"):
        await _run("untar", {"inPath": "a.tgz", "outPath": "out"}, tmp_path)


@pytest.mark.parametrize(
    ("members", "existing", "words"),
    [
        ([_file("ok.txt"), _file("../evil")], None, "escape"),
        ([_file("ok.txt"), _file("a"), _file("a/b")], None, "needs 'a' to be a directory"),
        ([_file("ok.txt"), _file("d")], "d/", "'d' is a directory"),
        ([_file("ok.txt"), _file("f/x")], "f", "needs 'f' to be a directory"),
    ],
    ids=["escape-after-a-good-entry", "file-then-dir", "file-onto-dir", "under-existing-file"],
)
async def test_untar_checks_every_entry_before_writing_any(tmp_path, members, existing, words):
    _archive(tmp_path / "a.tgz", members)
    (tmp_path / "out").mkdir()
    if existing and existing.endswith("/"):
        (tmp_path / "out" / existing).mkdir()
    elif existing:
        (tmp_path / "out" / existing).write_text("x")
    with pytest.raises(errors.TerminalStepError, match=words):
        await _run("untar", {"inPath": "a.tgz", "outPath": "out"}, tmp_path)
    assert not (tmp_path / "out/ok.txt").exists()


async def test_untar_of_a_truncated_archive_is_terminal(tmp_path):
    _archive(tmp_path / "a.tgz", [_file("x", b"y" * 100_000)])
    data = (tmp_path / "a.tgz").read_bytes()
    (tmp_path / "cut.tgz").write_bytes(data[: len(data) // 2])
    with pytest.raises(errors.TerminalStepError, match="cannot read the archive"):
        await _run("untar", {"inPath": "cut.tgz", "outPath": "out"}, tmp_path)
    assert not (tmp_path / "out").exists()
