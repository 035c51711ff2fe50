"""git-push's mistakes are reported as what the user did, not as git's refspec noise; its
fields accept what Kargo's do (maxAttempts up to int32, provider from Kargo's enum)."""

from __future__ import annotations

import pydantic
import pytest

from kargo import errors
from kargo.promotion.steps import git as steps
from tests.git.contexts import git_ctx, git_services


@pytest.fixture
def repo(git_server):
    url = git_server.create_repo("gitops")
    git_server.writer("gitops").commit({"app.yaml": "image: v1\n"}, "initial")
    return url


@pytest.fixture
def ctx(tmp_path, repo):
    return git_ctx(tmp_path, repo, git_services(tmp_path), alias="push", git_user=None)


async def test_pushing_a_tag_no_git_tag_step_made_says_so(ctx, repo):
    cfg = {"repoURL": repo, "checkout": [{"branch": "main", "path": "out"}]}
    await steps.git_clone(ctx, steps.GitCloneConfig.model_validate(cfg))
    with pytest.raises(errors.TerminalStepError) as err:
        await steps.git_push(ctx, steps.GitPushConfig(path="out", tag="v9"))
    message = str(err.value)
    assert "tag 'v9' does not exist in this checkout" in message
    assert "add a git-tag step" in message
    assert "refspec" not in message
    assert "refs/worktree" not in message


@pytest.mark.parametrize("branch", ["a..b", "has space", "x.lock", "-flag", "HEAD", "a//b"])
def test_an_invalid_target_branch_is_refused_in_the_config_with_the_rule(branch):
    with pytest.raises(pydantic.ValidationError) as err:
        steps.GitPushConfig.model_validate({"path": "out", "targetBranch": branch})
    message = str(err.value)
    assert f"{branch!r} is not a valid git branch name" in message
    assert "check-ref-format" in message


def test_a_valid_target_branch_is_accepted():
    cfg = steps.GitPushConfig.model_validate({"path": "out", "targetBranch": "stage/dev-1"})
    assert cfg.target_branch == "stage/dev-1"


async def test_a_created_branch_nothing_was_written_to_pushes_nothing_new(ctx, repo, git_server):
    cfg = {"repoURL": repo, "checkout": [{"branch": "fresh", "create": True, "path": "out"}]}
    cloned = await steps.git_clone(ctx, steps.GitCloneConfig.model_validate(cfg))
    initial = cloned.output["commits"]["out"]
    committed = await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message="render"))
    assert committed.output == {"commit": initial}
    pushed = await steps.git_push(ctx, steps.GitPushConfig(path="out"))
    assert pushed.output["commit"] == initial == git_server.branch_head("gitops", "fresh")
    assert git_server.log("gitops", "fresh") == ["Initial commit"]


@pytest.mark.parametrize("value", [1, 100, 101, 2147483647])
def test_max_attempts_accepts_kargos_whole_range(value):
    assert steps.GitPushConfig(path="out", max_attempts=value).max_attempts == value


@pytest.mark.parametrize("value", [0, 2147483648])
def test_max_attempts_outside_int32_is_refused(value):
    with pytest.raises(pydantic.ValidationError, match="maxAttempts"):
        steps.GitPushConfig.model_validate({"path": "out", "maxAttempts": value})


def test_provider_must_be_one_kargo_knows():
    for provider in ("azure", "bitbucket", "gitea", "github", "gitlab"):
        assert steps.GitPushConfig.model_validate({"path": "out", "provider": provider})
    with pytest.raises(pydantic.ValidationError) as err:
        steps.GitPushConfig.model_validate({"path": "out", "provider": "sourcehut"})
    message = str(err.value)
    assert "provider" in message
    for allowed in ("azure", "bitbucket", "gitea", "github", "gitlab"):
        assert allowed in message
