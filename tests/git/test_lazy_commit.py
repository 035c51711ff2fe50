"""A lazy checkout's commit is the commit git makes: the same edits made in a lazy checkout
(committed in-process) and in a full checkout (committed by `git add -A && git commit`) give the
same tree, whatever the edit: changes, deletions, new and ignored files, modes, symlinks, whole
directories, and files written where nothing was checked out."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kargo.credentials.interface import Credentials
from kargo.git import cli, lazy, mirror as mirrors, push as pushes, worktree as worktrees
from kargo.promotion.steps import git as steps
from tests.fixtures.git import GIT_PASSWORD, GIT_USER, run

SEED = {
    "README.md": "gitops\n",
    ".gitignore": "*.log\nbuild/\n",
    "env/top.txt": "shared by every env\n",
    "env/a/k.yaml": "a: 1\n",
    "env/a/sub/x.yaml": "x: 1\n",
    "env/b/k.yaml": "b: 1\n",
    "apps/c/v.yaml": "v: 1\n",
    "env/a/many.yaml": "one: 1\ntwo: 2\nthree: 3\nfour: 4\nfive: 5\n",
}
IDENTITY = worktrees.Identity("Kargo", "kargo@example.com")
CREDENTIALS = Credentials(GIT_USER, GIT_PASSWORD)


def seed(git_server: Any, extra: dict[str, str] | None = None) -> str:
    """A repository with SEED, an executable script and a symlink; returns its URL."""
    url = git_server.create_repo("gitops")
    writer = git_server.writer("gitops")
    (writer.work / "bin").mkdir(parents=True, exist_ok=True)
    script = writer.work / "bin" / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    os.symlink("README.md", writer.work / "link")
    writer.commit({**SEED, **(extra or {})}, "initial")
    return str(url)


class Checkouts:
    """Checkouts of the repository's main branch from one mirror cache."""

    def __init__(self, tmp_path: Path, url: str, *, blobless: bool = False) -> None:
        self.root = tmp_path / "work"
        self.url = url
        self.cache = mirrors.MirrorCache(tmp_path / "mirrors", blobless=blobless)
        self.blobless = blobless

    async def make(self, name: str, *, lazy_checkout: bool) -> Path:
        mirror = self.cache.get(self.url, for_promotion=not self.blobless)
        await mirror.fetch(CREDENTIALS, [steps.BRANCHES_REFSPEC], prune=True, history=False)
        sha = await mirror.rev_parse(mirrors.HEADS + "main")
        assert sha is not None
        meta = worktrees.Checkout(repo_url=mirror.url, mirror_path=str(mirror.path), branch="main")
        path = self.root / name / "out"
        await worktrees.add(mirror, path, sha, meta, CREDENTIALS, lazy=lazy_checkout)
        return path

    async def materialize(self, checkout: Path, *relatives: str | None) -> None:
        async def credentials_for(_url: str) -> Credentials:
            return CREDENTIALS

        if relatives == (None,):
            await lazy.materialize(checkout.parent, None, credentials_for)
            return
        paths = [f"{checkout.name}/{r}" for r in relatives if r is not None]
        await lazy.materialize(checkout.parent, paths, credentials_for)


async def commit(checkout: Path, message: str = "edit") -> tuple[str, bool]:
    meta = worktrees.read_checkout(checkout)
    if meta.lazy:
        return await lazy.commit(checkout, meta, message, IDENTITY)
    return await worktrees.commit_all(checkout, message, IDENTITY)


def tree_of(checkout: Path, sha: str) -> str:
    return run(["rev-parse", f"{sha}^{{tree}}"], checkout)


def files_under(root: Path) -> set[str]:
    found: set[str] = set()
    for current, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        found.update(Path(current, n).relative_to(root).as_posix() for n in names)
    return found - {".git"}


def edit_file(root: Path) -> None:
    (root / "env/a/k.yaml").write_text("a: 2\n")


def delete_file(root: Path) -> None:
    (root / "env/a/k.yaml").unlink()


def delete_directory(root: Path) -> None:
    shutil.rmtree(root / "env/a")


def delete_parent_file(root: Path) -> None:
    (root / "env/top.txt").unlink()


def add_new_and_ignored_files(root: Path) -> None:
    (root / "env/c").mkdir()
    (root / "env/c/new.yaml").write_text("new: 1\n")
    (root / "env/a/debug.log").write_text("ignored\n")
    (root / "env/a/build").mkdir()
    (root / "env/a/build/out.yaml").write_text("ignored: true\n")


def change_modes_and_links(root: Path) -> None:
    (root / "env/a/k.yaml").chmod(0o755)
    (root / "env/a/sub/x.yaml").unlink()
    os.symlink("../k.yaml", root / "env/a/sub/x.yaml")
    os.symlink("k.yaml", root / "env/a/alias.yaml")


def write_where_nothing_was_checked_out(root: Path) -> None:
    (root / "apps/c").mkdir(parents=True, exist_ok=True)
    (root / "apps/c/extra.yaml").write_text("extra: 1\n")


EDITS: dict[str, Callable[[Path], None]] = {
    "edit": edit_file,
    "delete": delete_file,
    "delete-directory": delete_directory,
    "delete-parent-file": delete_parent_file,
    "new-and-ignored": add_new_and_ignored_files,
    "modes-and-links": change_modes_and_links,
    "unchecked-out-directory": write_where_nothing_was_checked_out,
}


@pytest.mark.parametrize("edit", sorted(EDITS))
async def test_a_lazy_commit_records_the_tree_git_records(tmp_path, git_server, edit):
    checkouts = Checkouts(tmp_path, seed(git_server))
    lazy_out = await checkouts.make("lazy", lazy_checkout=True)
    full_out = await checkouts.make("full", lazy_checkout=False)
    await checkouts.materialize(lazy_out, "env/a")
    assert files_under(lazy_out) == {
        "README.md",
        ".gitignore",
        "link",
        "env/top.txt",
        "env/a/k.yaml",
        "env/a/many.yaml",
        "env/a/sub/x.yaml",
    }

    EDITS[edit](lazy_out)
    EDITS[edit](full_out)
    lazy_sha, lazy_changed = await commit(lazy_out)
    full_sha, full_changed = await commit(full_out)

    assert lazy_changed
    assert full_changed
    assert tree_of(full_out, lazy_sha) == tree_of(full_out, full_sha)
    assert run(["rev-parse", f"{lazy_sha}^"], full_out) == run(["rev-parse", "HEAD^"], full_out)
    assert await worktrees.head(lazy_out) == lazy_sha


async def test_nothing_changed_is_the_existing_head(tmp_path, git_server):
    checkouts = Checkouts(tmp_path, seed(git_server))
    out = await checkouts.make("lazy", lazy_checkout=True)
    head = await worktrees.head(out)
    await checkouts.materialize(out, "env/a/k.yaml")
    (out / "env/a/k.yaml").write_text("a: 1\n")  # the same contents, written again

    assert await commit(out) == (head, False)


async def test_the_message_is_cleaned_up_as_git_commit_does(tmp_path, git_server):
    checkouts = Checkouts(tmp_path, seed(git_server))
    lazy_out = await checkouts.make("lazy", lazy_checkout=True)
    full_out = await checkouts.make("full", lazy_checkout=False)
    message = "\n\n  Subject line   \n\n\n\nbody  line\n  \n\ttrailing\t\n\n"
    for out in (lazy_out, full_out):
        (out / "README.md").write_text("changed\n")
    lazy_sha, _ = await commit(lazy_out, message)
    full_sha, _ = await commit(full_out, message)

    def body(sha: str) -> str:
        return run(["cat-file", "commit", sha], full_out).split("\n\n", 1)[1]

    assert body(lazy_sha) == body(full_sha)
    assert run(["log", "-1", "--format=%an <%ae>|%cn <%ce>", lazy_sha], full_out) == (
        "Kargo <kargo@example.com>|Kargo <kargo@example.com>"
    )


async def test_a_deleted_file_stays_deleted_when_more_is_checked_out(tmp_path, git_server):
    checkouts = Checkouts(tmp_path, seed(git_server))
    out = await checkouts.make("lazy", lazy_checkout=True)
    await checkouts.materialize(out, "env/a")
    (out / "env/top.txt").unlink()
    (out / "env/a/k.yaml").write_text("mine\n")

    await checkouts.materialize(out, "env/b", "env")

    assert not (out / "env/top.txt").exists()
    assert (out / "env/a/k.yaml").read_text() == "mine\n"
    assert (out / "env/b/k.yaml").read_text() == "b: 1\n"
    sha, _ = await commit(out)
    worktrees.git_dir(out)  # git itself works only in a registered checkout
    changed = run(["diff-tree", "-r", "--name-status", "--no-commit-id", sha], out)
    assert sorted(changed.splitlines()) == ["D\tenv/top.txt", "M\tenv/a/k.yaml"]


async def test_checking_out_in_full_keeps_the_changes_made_so_far(tmp_path, git_server):
    checkouts = Checkouts(tmp_path, seed(git_server))
    lazy_out = await checkouts.make("lazy", lazy_checkout=True)
    full_out = await checkouts.make("full", lazy_checkout=False)
    await checkouts.materialize(lazy_out, "env/a")
    for out in (lazy_out, full_out):
        change_modes_and_links(out)
        delete_parent_file(out)

    await checkouts.materialize(lazy_out, None)

    assert not worktrees.read_checkout(lazy_out).lazy
    assert files_under(lazy_out) == files_under(full_out)

    def changed(out: Path) -> set[str]:
        return {line.split(None, 1)[1] for line in run(["status", "--porcelain"], out).splitlines()}

    assert (
        changed(lazy_out)
        == changed(full_out)
        == {
            "env/a/k.yaml",
            "env/a/sub/x.yaml",
            "env/a/alias.yaml",
            "env/top.txt",
        }
    )
    lazy_sha, _ = await commit(lazy_out)
    full_sha, _ = await commit(full_out)
    assert tree_of(full_out, lazy_sha) == tree_of(full_out, full_sha)


async def test_a_repository_with_attributes_is_checked_out_by_git_in_full(tmp_path, git_server):
    url = seed(git_server, {".gitattributes": "*.yaml text eol=crlf\n"})
    checkouts = Checkouts(tmp_path, url)
    out = await checkouts.make("lazy", lazy_checkout=True)

    assert not worktrees.read_checkout(out).lazy
    assert (out / "env/a/k.yaml").read_bytes() == b"a: 1\r\n"  # git applied the attributes


async def test_a_partial_mirror_fetches_the_blobs_a_checkout_needs_in_one_request(
    tmp_path, git_server
):
    checkouts = Checkouts(tmp_path, seed(git_server), blobless=True)
    out = await checkouts.make("lazy", lazy_checkout=True)
    before = cli.COMMAND_COUNTS.copy()

    await checkouts.materialize(out, "env/a")

    assert (cli.COMMAND_COUNTS - before)["fetch"] == 1
    assert (out / "env/a/sub/x.yaml").read_text() == "x: 1\n"
    assert (out / "README.md").read_text() == "gitops\n"


async def test_a_new_branch_starts_from_an_empty_initial_commit(tmp_path, git_server):
    checkouts = Checkouts(tmp_path, seed(git_server))
    mirror = checkouts.cache.get(checkouts.url, for_promotion=True)
    await mirror.fetch(CREDENTIALS, [steps.BRANCHES_REFSPEC], prune=True, history=False)
    initial = await worktrees.initial_commit(mirror, worktrees.Identity("Ana", "ana@x.io"))
    meta = worktrees.Checkout(repo_url=mirror.url, mirror_path=str(mirror.path), branch="new")
    out = checkouts.root / "new" / "out"
    await worktrees.add(mirror, out, initial, meta, CREDENTIALS, lazy=True)
    assert worktrees.read_checkout(out).lazy
    assert await commit(out) == (initial, False)

    (out / "rendered.yaml").write_text("kind: ConfigMap\n")
    sha, changed = await commit(out)

    assert changed
    assert run(["rev-list", "--parents", "-1", sha], out) == f"{sha} {initial}"
    assert run(["rev-list", "--parents", "-1", initial], out) == initial
    assert run(["ls-tree", "-r", "--name-only", sha], out) == "rendered.yaml"
    assert run(["log", "-1", "--format=%an <%ae>|%cn|%B", initial], out) == (
        "Ana <ana@x.io>|Ana|Initial commit"
    )


async def push(checkouts: Checkouts, out: Path, policy: pushes.IntegrationPolicy) -> str:
    mirror = checkouts.cache.get(checkouts.url, for_promotion=True)
    request = pushes.PushRequest(
        worktree=out, mirror=mirror, branch="main", credentials=CREDENTIALS, policy=policy
    )
    return await pushes.PushCoordinator().push(request)


@pytest.mark.parametrize(
    "policy", [pushes.IntegrationPolicy.ALWAYS_REBASE, pushes.IntegrationPolicy.ALWAYS_MERGE]
)
async def test_a_lazy_commit_is_rebased_or_merged_over_a_change_to_the_same_file(
    tmp_path, git_server, policy
):
    checkouts = Checkouts(tmp_path, seed(git_server))
    out = await checkouts.make("lazy", lazy_checkout=True)
    await checkouts.materialize(out, "env/a/many.yaml")
    (out / "env/a/many.yaml").write_text("one: 10\ntwo: 2\nthree: 3\nfour: 4\nfive: 5\n")
    await commit(out, "mine")
    git_server.writer("gitops").commit(
        {"env/a/many.yaml": "one: 1\ntwo: 2\nthree: 3\nfour: 4\nfive: 50\n"}, "theirs"
    )

    pushed = await push(checkouts, out, policy)

    assert pushed == git_server.branch_head("gitops")
    assert run(["show", f"{pushed}:env/a/many.yaml"], out) == (
        "one: 10\ntwo: 2\nthree: 3\nfour: 4\nfive: 50"
    )
    assert run(["show", f"{pushed}:env/b/k.yaml"], out) == "b: 1"  # untouched files stay


async def test_a_conflicting_lazy_commit_fails_clearly(tmp_path, git_server):
    checkouts = Checkouts(tmp_path, seed(git_server))
    out = await checkouts.make("lazy", lazy_checkout=True)
    await checkouts.materialize(out, "env/a/k.yaml")
    (out / "env/a/k.yaml").write_text("a: mine\n")
    await commit(out, "mine")
    git_server.writer("gitops").commit({"env/a/k.yaml": "a: theirs\n"}, "theirs")

    with pytest.raises(pushes.PushRejected, match="conflicts"):
        await push(checkouts, out, pushes.IntegrationPolicy.REBASE_OR_MERGE)
