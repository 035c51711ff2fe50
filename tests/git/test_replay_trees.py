"""The in-process replay gives the tree `git rebase` gives: changed files set, deleted ones
removed (empty directories with them), files turned into directories and back, and the
commits in between read from a real repository made by git."""

from __future__ import annotations

from pathlib import Path

from kargo.git import replay
from tests.fixtures.git import run


def _repo(tmp_path: Path) -> Path:
    work = tmp_path / "repo"
    work.mkdir()
    run(["init", "--quiet", "--initial-branch", "main"], work)
    return work


def _commit(work: Path, files: dict[str, str | None], message: str) -> str:
    for relative, text in files.items():
        path = work / relative
        if text is None:
            run(["rm", "-r", "--quiet", relative], work)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        run(["add", relative], work)
    run(["commit", "--quiet", "-m", message], work)
    return run(["rev-parse", "HEAD"], work)


def _files(work: Path, commit: str) -> dict[str, str]:
    listed = run(["ls-tree", "-r", "-z", "--name-only", commit], work).split("\0")
    return {name: run(["show", f"{commit}:{name}"], work) for name in listed if name}


def test_replayed_commits_end_up_with_the_trees_a_rebase_makes(tmp_path):
    work = _repo(tmp_path)
    base = _commit(
        work,
        {"keep.yaml": "k", "file-then-dir": "f", "dir-then-file/a": "a", "gone/only": "o"},
        "base",
    )
    upstream = _commit(work, {"upstream/new.yaml": "u"}, "upstream")
    run(["checkout", "--quiet", base], work)
    reshape = _commit(
        work,
        {
            "file-then-dir": None,
            "dir-then-file": None,
            "gone/only": None,
        },
        "remove",
    )
    (work / "file-then-dir").mkdir()
    (work / "dir-then-file").write_text("now a file")
    (work / "file-then-dir" / "inner.yaml").write_text("inner")
    run(["add", "-A"], work)
    run(["commit", "--quiet", "-m", "reshape"], work)
    reshaped = run(["rev-parse", "HEAD"], work)
    run(["checkout", "--quiet", base], work)
    other = _commit(work, {"stage/b/kustomization.yaml": "b"}, "other stage")

    git_dir = work / ".git"
    infos = replay.describe(git_dir, [reshape, reshaped, other])
    assert infos[reshaped].parents == (reshape,)
    assert sorted(infos[reshaped].paths) == [
        "dir-then-file",
        "file-then-dir/inner.yaml",
    ]
    chain = [replay.Replay(infos[sha], "Pusher", "p@x.org") for sha in (reshape, reshaped, other)]
    shas = replay.replay(git_dir, "refs/kargo/integrate/main", upstream, chain)

    assert _files(work, shas[-1]) == {
        "keep.yaml": "k",
        "upstream/new.yaml": "u",
        "file-then-dir/inner.yaml": "inner",
        "dir-then-file": "now a file",
        "stage/b/kustomization.yaml": "b",
    }
    assert run(["rev-parse", "refs/kargo/integrate/main"], work) == shas[-1]
    log = run(["log", "--format=%s|%cn", f"{upstream}..{shas[-1]}"], work).splitlines()
    assert log == ["other stage|Pusher", "reshape|Pusher", "remove|Pusher"]
    run(["fsck", "--strict", "--no-dangling"], work)  # every object written is well formed


def test_upstream_questions_are_answered_from_the_object_store(tmp_path):
    work = _repo(tmp_path)
    first = _commit(work, {"a": "1"}, "first")
    second = _commit(work, {"b/c": "2"}, "second")
    third = _commit(work, {"a": "3"}, "third")
    git_dir = work / ".git"
    assert replay.is_ancestor(git_dir, first, third)
    assert replay.is_ancestor(git_dir, third, third)
    assert not replay.is_ancestor(git_dir, third, first)
    assert not replay.is_ancestor(git_dir, "1" * 40, third)  # unknown: not an ancestor
    assert replay.commits_between(git_dir, first, third) == {second, third}
    assert replay.changed_paths(git_dir, first, third) == {"a", "b/c"}
    assert replay.changed_paths(git_dir, third, third) == set()
