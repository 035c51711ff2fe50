"""Branch and tag names are refused exactly when `git check-ref-format` refuses them."""

import subprocess

import pytest

from kargo.git import refname
from tests.fixtures.git import git_env

NAMES = [
    "v1.0.0",
    "release/2024-01",
    "stage/dev",
    "a-b_c+d=e,f",
    "héllo",
    "bad tag",
    "tab\there",
    "new\nline",
    "del\x7f",
    "a~1",
    "a^",
    "a:b",
    "what?",
    "star*",
    "br[ack",
    "back\\slash",
    "a..b",
    "a/../b",
    ".hidden",
    "dir/.hidden",
    "v1.lock",
    "dir.lock/x",
    "a.lock.b",
    "trailing.",
    "trailing/",
    "/leading",
    "double//slash",
    "@",
    "a@{1}",
    "a@b",
    "@{",
    "x.",
    "-dash",
    "HEAD",
    "a/HEAD",
    "@{-1}",
    "a/b/c",
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", ["branch", "tag"])
def test_names_are_refused_like_git_check_ref_format(kind, name, tmp_path):
    args = ["--branch", name] if kind == "branch" else ["refs/tags/" + name]
    git = subprocess.run(  # outside any repository: `--branch @{-1}` expands nothing
        ["git", "check-ref-format", *args], cwd=tmp_path, env=git_env(), capture_output=True
    )
    message = refname.error(kind, name)
    assert (message is None) == (git.returncode == 0), message
    if message is not None:
        assert message.startswith(f"{name!r} is not a valid git {kind} name: ")


def test_the_message_says_which_rule_and_how_to_fix():
    assert refname.error("tag", "bad tag") == (
        "'bad tag' is not a valid git tag name: it contains a space, which git never allows "
        "in a reference name (see `git help check-ref-format`); choose another tag name"
    )
    assert refname.error("branch", "") == (
        "'' is not a valid git branch name: it is empty (see `git help check-ref-format`); "
        "choose another branch name"
    )
