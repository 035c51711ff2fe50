"""git-commit signs commits with the configured GPG key, which never lands on disk for long."""

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kargo.promotion.context import StepContext
from kargo.promotion.steps import git as steps
from tests.conftest import require_binary
from tests.fixtures.git import git_env
from tests.git.contexts import git_services, step_context


def _make_key(home):
    env = {**os.environ, "GNUPGHOME": str(home)}
    home.mkdir(mode=0o700)
    subprocess.run(
        [
            "gpg",
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            "Signer <signer@example.com>",
            "ed25519",
            "sign",
            "never",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    key = subprocess.run(
        ["gpg", "--batch", "--armor", "--export-secret-keys"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, check=False)
    return key


def _signer(tmp_path: Path, git_server: Any, lazy: bool) -> tuple[StepContext, str, dict[str, str]]:
    """A promotion's context on a new repository, and an author with a fresh signing key."""
    require_binary("gpg")
    key = _make_key(tmp_path / "gnupg")
    repo = git_server.create_repo("gitops")
    git_server.writer("gitops").commit({"a": "1"}, "initial")
    work = tmp_path / "work"
    work.mkdir()
    ctx = step_context(
        work, repo, "p1", git_services(tmp_path), None, stage="s", lazy_checkouts=lazy
    )
    return ctx, repo, {"name": "Signer", "email": "signer@example.com", "signingKey": key}


@pytest.mark.parametrize("lazy", [False, True], ids=["full-checkout", "lazy-checkout"])
async def test_commits_are_signed_with_the_authors_key(tmp_path, git_server, lazy):
    ctx, repo, author = _signer(tmp_path, git_server, lazy)
    work = ctx.work_dir
    await steps.git_clone(
        ctx, steps.GitCloneConfig.model_validate({"repoURL": repo, "checkout": [{"path": "out"}]})
    )
    (work / "out" / "b").write_text("2")
    cfg = steps.GitCommitConfig.model_validate(
        {"path": "out", "message": "signed", "author": author}
    )
    sha = (await steps.git_commit(ctx, cfg)).output["commit"]
    raw = subprocess.run(
        ["git", "cat-file", "commit", sha],
        cwd=work / "out",
        capture_output=True,
        text=True,
        env=git_env(),
    ).stdout
    assert "gpgsig -----BEGIN PGP SIGNATURE-----" in raw
    assert "author Signer <signer@example.com>" in raw


async def test_the_clone_authors_key_signs_later_commits(tmp_path, git_server):
    require_binary("gpg")
    key = _make_key(tmp_path / "gnupg")
    repo = git_server.create_repo("gitops")
    git_server.writer("gitops").commit({"a": "1"}, "initial")
    work = tmp_path / "work"
    work.mkdir()
    ctx = step_context(work, repo, "p1", git_services(tmp_path), None, stage="s")
    author = {"name": "Signer", "email": "signer@example.com", "signingKey": key}
    await steps.git_clone(
        ctx,
        steps.GitCloneConfig.model_validate(
            {"repoURL": repo, "author": author, "checkout": [{"path": "out"}]}
        ),
    )
    (work / "out" / "b").write_text("2")
    sha = (await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message="signed"))).output[
        "commit"
    ]
    raw = subprocess.run(
        ["git", "cat-file", "commit", sha],
        cwd=work / "out",
        capture_output=True,
        text=True,
        env=git_env(),
    ).stdout
    assert "gpgsig -----BEGIN PGP SIGNATURE-----" in raw
    assert key not in raw


@pytest.mark.parametrize("lazy", [False, True], ids=["full-checkout", "lazy-checkout"])
async def test_a_created_branchs_initial_commit_is_signed_with_the_clone_authors_key(
    tmp_path, git_server, lazy
):
    ctx, repo, author = _signer(tmp_path, git_server, lazy)
    key = author["signingKey"]
    work = ctx.work_dir
    cloned = await steps.git_clone(
        ctx,
        steps.GitCloneConfig.model_validate(
            {
                "repoURL": repo,
                "author": author,
                "checkout": [{"path": "out", "branch": "stage/s", "create": True}],
            }
        ),
    )
    initial = cloned.output["commits"]["out"]
    raw = subprocess.run(
        ["git", "cat-file", "commit", "refs/heads/stage/s"],
        cwd=git_server.bare_path("gitops"),
        capture_output=True,
        text=True,
        env=git_env(),
    ).stdout
    assert "gpgsig -----BEGIN PGP SIGNATURE-----" in raw  # signed, and on the server already
    assert "author Signer <signer@example.com>" in raw
    assert raw.endswith("\nInitial commit\n")
    assert key not in raw
    (work / "out" / "b").write_text("2")
    await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message="signed"))
    pushed = await steps.git_push(ctx, steps.GitPushConfig(path="out"))
    parent = subprocess.run(
        ["git", "rev-parse", f"{pushed.output['commit']}^"],
        cwd=git_server.bare_path("gitops"),
        capture_output=True,
        text=True,
        env=git_env(),
    ).stdout.strip()
    assert parent == initial
