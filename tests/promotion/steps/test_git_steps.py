"""git-clone, git-clear, git-commit, git-push and git-tag against a real smart-HTTP server."""

import subprocess

import pytest
from pydantic import ValidationError

from kargo import errors
from kargo.credentials.interface import Credentials, StaticCredentials
from kargo.promotion import registry as reg
from kargo.promotion.steps import git as steps
from tests.fixtures.git import GIT_PASSWORD, GIT_USER, git_env, run
from tests.git.contexts import git_ctx as make_ctx, git_services


@pytest.fixture
def repo(git_server):
    url = git_server.create_repo("gitops")
    writer = git_server.writer("gitops")
    writer.commit({"base/app.yaml": "image: v1\n", "README.md": "hi\n"}, "initial")
    return url


@pytest.fixture
def services(tmp_path):
    return git_services(tmp_path)


def clone_cfg(repo, **checkout):
    return steps.GitCloneConfig.model_validate(
        {"repoURL": repo, "checkout": [{"path": "out", **checkout}]}
    )


def show(git_server, rev, path=None):
    target = f"{rev}:{path}" if path else rev
    return subprocess.run(
        ["git", "show", "-s" if path is None else "--format=", target]
        if path is None
        else ["git", "show", target],
        cwd=git_server.bare_path("gitops"),
        capture_output=True,
        text=True,
        env=git_env(),
    ).stdout


async def test_clone_commit_push_lands_on_the_branch(tmp_path, git_server, repo, services):
    ctx = make_ctx(tmp_path, repo, services)
    cloned = await steps.git_clone(ctx, clone_cfg(repo, branch="main"))
    head = git_server.branch_head("gitops")
    assert cloned.output == {"commits": {"out": head}}
    assert (ctx.work_dir / "out" / "base" / "app.yaml").read_text() == "image: v1\n"
    (ctx.work_dir / "out" / "base" / "app.yaml").write_text("image: v2\n")
    committed = await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message="promote v2"))
    pushed = await steps.git_push(ctx, steps.GitPushConfig(path="out"))
    assert pushed.output["commit"] == committed.output["commit"] == git_server.branch_head("gitops")
    assert pushed.output["branch"] == "main"
    assert (
        pushed.output["commitURL"]
        == f"{repo.removesuffix('.git')}/commit/{pushed.output['commit']}"
    )
    assert git_server.log("gitops") == ["promote v2", "initial"]
    assert show(git_server, "main", "base/app.yaml") == "image: v2\n"
    author = subprocess.run(
        ["git", "log", "-1", "--format=%an <%ae>|%cn"],
        cwd=git_server.bare_path("gitops"),
        capture_output=True,
        text=True,
        env=git_env(),
    ).stdout.strip()
    assert author == "Kargo Bot <bot@example.com>|Kargo Bot"


async def test_commit_with_a_clean_tree_returns_the_existing_head(
    tmp_path, repo, services, git_server
):
    ctx = make_ctx(tmp_path, repo, services)
    await steps.git_clone(ctx, clone_cfg(repo))
    result = await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message="nothing"))
    assert result.output == {"commit": git_server.branch_head("gitops")}


async def test_clone_author_is_used_for_commits(tmp_path, repo, services, git_server):
    ctx = make_ctx(tmp_path, repo, services)
    cfg = steps.GitCloneConfig.model_validate(
        {
            "repoURL": repo,
            "checkout": [{"path": "out"}],
            "author": {"name": "Ana", "email": "ana@x.io"},
        }
    )
    await steps.git_clone(ctx, cfg)
    (ctx.work_dir / "out" / "new.txt").write_text("x")
    await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message="by ana"))
    await steps.git_push(ctx, steps.GitPushConfig(path="out"))
    out = subprocess.run(
        ["git", "log", "-1", "--format=%an <%ae>"],
        cwd=git_server.bare_path("gitops"),
        capture_output=True,
        text=True,
        env=git_env(),
    ).stdout.strip()
    assert out == "Ana <ana@x.io>"


async def test_create_pushes_an_initial_commit_then_the_promotion_lands_on_it(
    tmp_path, repo, services, git_server
):
    ctx = make_ctx(tmp_path, repo, services)
    cloned = await steps.git_clone(
        ctx, clone_cfg(repo, branch="stage/dev", create=True, **{"as": "dev"})
    )
    initial = git_server.branch_head("gitops", "stage/dev")  # on the server before git-push
    assert cloned.output == {"commits": {"dev": initial}}
    assert git_server.log("gitops", "stage/dev") == ["Initial commit"]
    assert [p.name for p in (ctx.work_dir / "out").iterdir()] == [".git"]
    (ctx.work_dir / "out" / "manifest.yaml").write_text("kind: x\n")
    await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message="rendered"))
    pushed = await steps.git_push(ctx, steps.GitPushConfig(path="out"))
    assert pushed.output["branch"] == "stage/dev"
    assert git_server.log("gitops", "stage/dev") == ["rendered", "Initial commit"]
    parents = run(["rev-list", "--parents", "-1", "stage/dev"], git_server.bare_path("gitops"))
    assert parents.split()[1:] == [initial]


async def test_missing_branch_without_create_says_how_to_fix(tmp_path, repo, services):
    ctx = make_ctx(tmp_path, repo, services)
    with pytest.raises(errors.StepError, match="branch 'nope' not found in .*set create: true"):
        await steps.git_clone(ctx, clone_cfg(repo, branch="nope"))


async def test_clone_of_a_commit_and_of_a_tag(tmp_path, repo, services, git_server):
    writer = git_server.writer("gitops")
    first = git_server.branch_head("gitops")
    writer.tag("v1.0.0", message="release")
    writer.commit({"base/app.yaml": "image: v9\n"}, "later")
    ctx = make_ctx(tmp_path, repo, services)
    cfg = steps.GitCloneConfig.model_validate(
        {
            "repoURL": repo,
            "checkout": [
                {"path": "a", "commit": first},
                {"path": "b", "tag": "v1.0.0", "as": "tagged"},
            ],
        }
    )
    result = await steps.git_clone(ctx, cfg)
    assert result.output == {"commits": {"a": first, "tagged": first}}
    assert (ctx.work_dir / "b" / "base" / "app.yaml").read_text() == "image: v1\n"
    with pytest.raises(errors.TerminalStepError, match="set targetBranch or generateTargetBranch"):
        await steps.git_push(ctx, steps.GitPushConfig(path="a"))


async def test_sparse_checkout_only_has_the_listed_directories(
    tmp_path, repo, services, git_server
):
    git_server.writer("gitops").commit({"other/app.yaml": "image: v9\n"}, "another dir")
    ctx = make_ctx(tmp_path, repo, services)
    await steps.git_clone(ctx, clone_cfg(repo, sparse=["base"]))
    names = sorted(p.name for p in (ctx.work_dir / "out").iterdir())
    # cone mode: the listed directory and the top-level files, no other directory
    assert names == [".git", "README.md", "base"]
    assert (ctx.work_dir / "out" / "base" / "app.yaml").read_text() == "image: v1\n"
    assert not (ctx.work_dir / "out" / "other").exists()


async def test_clear_removes_everything_but_git(tmp_path, repo, services, git_server):
    ctx = make_ctx(tmp_path, repo, services)
    await steps.git_clone(ctx, clone_cfg(repo))
    (ctx.work_dir / "out" / "untracked.txt").write_text("x")
    await steps.git_clear(ctx, steps.GitClearConfig(path="out"))
    assert [p.name for p in (ctx.work_dir / "out").iterdir()] == [".git"]
    (ctx.work_dir / "out" / "only.txt").write_text("1")
    await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message="rebuilt"))
    await steps.git_push(ctx, steps.GitPushConfig(path="out"))
    listed = subprocess.run(
        ["git", "ls-tree", "--name-only", "main"],
        cwd=git_server.bare_path("gitops"),
        capture_output=True,
        text=True,
        env=git_env(),
    ).stdout.split()
    assert listed == ["only.txt"]


async def test_generated_target_branch_is_named_after_the_promotion(
    tmp_path, repo, services, git_server
):
    ctx = make_ctx(tmp_path, repo, services, name="promo-xyz")
    await steps.git_clone(ctx, clone_cfg(repo))
    (ctx.work_dir / "out" / "f").write_text("1")
    await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message="pr"))
    pushed = await steps.git_push(ctx, steps.GitPushConfig(path="out", generate_target_branch=True))
    assert pushed.output["branch"] == "kargo/promotion/promo-xyz"
    assert git_server.branch_head("gitops", "kargo/promotion/promo-xyz") == pushed.output["commit"]
    assert git_server.log("gitops") == ["initial"]


async def test_tag_and_push_tag(tmp_path, repo, services, git_server):
    ctx = make_ctx(tmp_path, repo, services)
    await steps.git_clone(ctx, clone_cfg(repo))
    tagged = await steps.git_tag(ctx, steps.GitTagConfig(path="out", tag="v2.0.0", message="two"))
    head = git_server.branch_head("gitops")
    assert tagged.output == {"tag": "v2.0.0", "commit": head}
    await steps.git_push(ctx, steps.GitPushConfig(path="out", tag="v2.0.0"))
    peeled = subprocess.run(
        ["git", "rev-parse", "v2.0.0^{commit}"],
        cwd=git_server.bare_path("gitops"),
        capture_output=True,
        text=True,
        env=git_env(),
    ).stdout.strip()
    assert peeled == head
    with pytest.raises(errors.StepError, match="already exists in this checkout; set force: true"):
        await steps.git_tag(ctx, steps.GitTagConfig(path="out", tag="v2.0.0", message="again"))


async def test_push_rebases_over_a_remote_that_moved(tmp_path, repo, services, git_server):
    ctx = make_ctx(tmp_path, repo, services)
    await steps.git_clone(ctx, clone_cfg(repo))
    git_server.writer("gitops").commit({"other.txt": "someone else"}, "concurrent change")
    (ctx.work_dir / "out" / "mine.txt").write_text("mine")
    await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message="mine"))
    pushed = await steps.git_push(ctx, steps.GitPushConfig(path="out"))
    assert git_server.log("gitops") == ["mine", "concurrent change", "initial"]
    assert pushed.output["commit"] == git_server.branch_head("gitops")


async def test_a_conflicting_rebase_fails_clearly_without_falling_back_to_a_merge(
    tmp_path, repo, services, git_server
):
    ctx = make_ctx(tmp_path, repo, services)
    await steps.git_clone(ctx, clone_cfg(repo))
    git_server.writer("gitops").commit({"base/app.yaml": "image: theirs\n"}, "theirs")
    (ctx.work_dir / "out" / "base" / "app.yaml").write_text("image: ours\n")
    await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message="ours"))
    with pytest.raises(errors.StepError, match="rebasing this promotion's commits .* conflicts"):
        await steps.git_push(ctx, steps.GitPushConfig(path="out"))
    assert git_server.log("gitops") == ["theirs", "initial"]


async def test_policy_none_refuses_to_integrate(tmp_path, repo, services, git_server):
    ctx = make_ctx(tmp_path, repo, services)
    await steps.git_clone(ctx, clone_cfg(repo))
    git_server.writer("gitops").commit({"x": "1"}, "moved")
    (ctx.work_dir / "out" / "y").write_text("2")
    await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message="mine"))
    cfg = steps.GitPushConfig.model_validate({"path": "out", "integrationPolicy": "None"})
    with pytest.raises(errors.StepError, match="integration policy is None"):
        await steps.git_push(ctx, cfg)


async def test_always_merge_creates_a_merge_commit(tmp_path, repo, services, git_server):
    ctx = make_ctx(tmp_path, repo, services)
    await steps.git_clone(ctx, clone_cfg(repo))
    git_server.writer("gitops").commit({"x": "1"}, "moved")
    (ctx.work_dir / "out" / "y").write_text("2")
    await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message="mine"))
    cfg = steps.GitPushConfig.model_validate({"path": "out", "integrationPolicy": "AlwaysMerge"})
    await steps.git_push(ctx, cfg)
    assert git_server.log("gitops")[0] == "Merge main into promotion"


async def test_force_push_overwrites_the_remote(tmp_path, repo, services, git_server):
    ctx = make_ctx(tmp_path, repo, services)
    await steps.git_clone(ctx, clone_cfg(repo))
    git_server.writer("gitops").commit({"x": "1"}, "to be overwritten")
    (ctx.work_dir / "out" / "y").write_text("2")
    await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message="forced"))
    await steps.git_push(ctx, steps.GitPushConfig(path="out", force=True))
    assert git_server.log("gitops") == ["forced", "initial"]


async def test_dry_run_push_records_the_diff_and_pushes_nothing(
    tmp_path, repo, services, git_server
):
    ctx = make_ctx(tmp_path, repo, services, dry_run=True)
    await steps.git_clone(ctx, clone_cfg(repo))
    (ctx.work_dir / "out" / "base" / "app.yaml").write_text("image: v3\n")
    await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message="preview"))
    result = await steps.git_push(ctx, steps.GitPushConfig(path="out"))
    assert result.output["dryRun"] is True
    assert "-image: v1\n+image: v3" in result.output["diff"]
    assert git_server.log("gitops") == ["initial"]


async def test_wrong_credentials_fail_clone_without_leaking(tmp_path, repo, services):
    ctx = make_ctx(tmp_path, repo, services)
    ctx.credentials = StaticCredentials({repo: Credentials(GIT_USER, "bad-" + GIT_PASSWORD)})
    with pytest.raises(errors.StepError) as info:
        await steps.git_clone(ctx, clone_cfg(repo))
    assert str(info.value) == (
        f"error cloning {repo}: authentication failed for {repo}: check the git credentials for this repoURL"
    )


async def test_a_warm_mirror_fetches_only_new_commits(tmp_path, repo, services, git_server):
    first = make_ctx(tmp_path, repo, services, name="a")
    await steps.git_clone(first, clone_cfg(repo))
    mirror = services[steps.MIRRORS_SERVICE].get(repo)
    git_server.writer("gitops").commit({"n": "1"}, "new")
    second = make_ctx(tmp_path, repo, services, name="b")
    await steps.git_clone(second, clone_cfg(repo))
    assert mirror.fetches == 2
    assert (second.work_dir / "out" / "n").read_text() == "1"


def test_registers_every_git_step_with_its_capabilities():
    registry = reg.StepRegistry()
    steps.register(registry)
    assert registry.names() == ["git-clear", "git-clone", "git-commit", "git-push", "git-tag"]
    assert reg.Capability.ACCESS_CONTROL_PLANE in registry.get("git-push").capabilities


@pytest.mark.parametrize(
    ("model", "config", "problem"),
    [
        (steps.GitCloneConfig, {"checkout": [{"path": "a"}]}, "repoURL"),
        (steps.GitCloneConfig, {"repoURL": "u", "checkout": []}, "at least 1"),
        (
            steps.GitCloneConfig,
            {"repoURL": "u", "checkout": [{"path": "a", "branch": "b", "tag": "t"}]},
            "mutually exclusive",
        ),
        (
            steps.GitCloneConfig,
            {"repoURL": "u", "checkout": [{"path": "a"}, {"path": "a"}]},
            "unique",
        ),
        (
            steps.GitCloneConfig,
            {"repoURL": "u", "checkout": [{"path": "a"}], "bogus": 1},
            "Extra inputs",
        ),
        (steps.GitCommitConfig, {"path": "a"}, "message"),
        (
            steps.GitPushConfig,
            {"path": "a", "targetBranch": "x", "generateTargetBranch": True},
            "mutually exclusive",
        ),
        (steps.GitPushConfig, {"path": "a", "maxAttempts": 0}, "greater than or equal to 1"),
        (steps.GitPushConfig, {"path": "a", "integrationPolicy": "Sometimes"}, "RebaseOrMerge"),
        (steps.GitTagConfig, {"path": "a"}, "tag"),
        (steps.GitTagConfig, {"path": "a", "tag": "v1"}, "message\n  Field required"),
        (steps.GitTagConfig, {"path": "a", "tag": "v1", "message": ""}, "at least 1 character"),
        (
            steps.GitTagConfig,
            {"path": "a", "tag": "bad tag", "message": "m"},
            "'bad tag' is not a valid git tag name: it contains a space",
        ),
        (
            steps.GitTagConfig,
            {"path": "a", "tag": "v1.lock", "message": "m"},
            "'v1.lock' is not a valid git tag name: the part 'v1.lock' ends with '.lock'",
        ),
        (
            steps.GitCloneConfig,
            {"repoURL": "u", "checkout": [{"path": "a", "branch": "stage..dev"}]},
            "checkout.0.branch\n  'stage..dev' is not a valid git branch name: it contains '..'",
        ),
        (
            steps.GitCloneConfig,
            {"repoURL": "u", "checkout": [{"path": "a", "tag": "v1^"}]},
            "checkout.0.tag\n  'v1\\^' is not a valid git tag name: it contains '\\^'",
        ),
    ],
)
def test_config_validation_messages(model, config, problem):
    with pytest.raises(ValidationError, match=problem):
        model.model_validate(config)


def test_commit_urls_follow_the_provider_layout():
    assert (
        steps.commit_url("https://github.com/a/b.git", "abc") == "https://github.com/a/b/commit/abc"
    )
    assert (
        steps.commit_url("https://gitlab.com/a/b", "abc") == "https://gitlab.com/a/b/-/commit/abc"
    )
    assert (
        steps.commit_url("https://u:p@bitbucket.org/a/b.git", "abc")
        == "https://bitbucket.org/a/b/commits/abc"
    )


async def test_a_failed_clone_leaves_the_path_free_for_a_retry(
    tmp_path, repo, services, git_server
):
    ctx = make_ctx(tmp_path, repo, services)
    with pytest.raises(errors.StepError):
        await steps.git_clone(ctx, clone_cfg(repo, commit="0" * 40))
    assert not (ctx.work_dir / "out").exists()
    result = await steps.git_clone(ctx, clone_cfg(repo))
    assert result.output == {"commits": {"out": git_server.branch_head("gitops")}}


async def test_clone_announces_its_branch_push_and_a_dry_run_does_not(tmp_path, repo, services):
    coordinator = services[steps.PUSH_SERVICE]
    real = make_ctx(tmp_path, repo, services, "real")
    dry = make_ctx(tmp_path, repo, services, "dry", dry_run=True)
    await steps.git_clone(real, clone_cfg(repo, branch="main"))
    await steps.git_clone(dry, clone_cfg(repo, branch="main"))
    mirror = services[steps.MIRRORS_SERVICE].get(repo)

    assert coordinator.expected(mirror, "main") == [real.work_dir / "out"]

    await steps.git_push(real, steps.GitPushConfig(path="out"))
    assert coordinator.expected(mirror, "main") == []


async def test_recurse_submodules_checks_out_a_submodule_behind_the_same_auth(
    tmp_path, git_server, services
):
    """A submodule on the same authenticated server is cloned with the repository's
    credentials; committing and pushing the superproject still works."""
    git_server.create_repo("lib")
    lib_head = git_server.writer("lib").commit({"lib.txt": "library v1\n"}, "lib")
    url = git_server.create_repo("gitops")
    writer = git_server.writer("gitops")
    writer.commit(
        {
            ".gitmodules": f'[submodule "vendor/lib"]\n\tpath = vendor/lib\n\turl = {git_server.url("lib")}\n'
        },
        "declare the submodule",
        push=False,
    )
    run(["update-index", "--add", "--cacheinfo", f"160000,{lib_head},vendor/lib"], writer.work)
    run(["commit", "--quiet", "-m", "add the submodule"], writer.work)
    run(["push", "--quiet", "origin", "HEAD:refs/heads/main"], writer.work)

    ctx = make_ctx(tmp_path, url, services)
    plain = await steps.git_clone(ctx, clone_cfg(url, branch="main", path="plain"))
    assert plain.output["commits"]["plain"] == git_server.branch_head("gitops")
    assert not (ctx.work_dir / "plain" / "vendor" / "lib" / "lib.txt").exists()

    cfg = steps.GitCloneConfig.model_validate(
        {"repoURL": url, "recurseSubmodules": True, "checkout": [{"branch": "main", "path": "out"}]}
    )
    await steps.git_clone(ctx, cfg)
    assert (ctx.work_dir / "out" / "vendor" / "lib" / "lib.txt").read_text() == "library v1\n"
    (ctx.work_dir / "out" / "app.yaml").write_text("image: v2\n")
    committed = await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message="promote"))
    await steps.git_push(ctx, steps.GitPushConfig(path="out"))
    assert git_server.branch_head("gitops") == committed.output["commit"]
    tree = run(["ls-tree", "main", "vendor/lib"], git_server.bare_path("gitops"))
    assert tree.split()[:3] == ["160000", "commit", lib_head]  # the gitlink is unchanged


@pytest.fixture
def tls_server(git_server_factory):
    """An HTTPS git server with a self-signed certificate, holding `gitops`."""
    server = git_server_factory(https=True)
    server.create_repo("gitops")
    server.writer("gitops").commit({"base/app.yaml": "image: v1\n"}, "initial")
    return server


def insecure_clone_cfg(repo, insecure):
    return steps.GitCloneConfig.model_validate(
        {"repoURL": repo, "checkout": [{"path": "out"}], "insecureSkipTLSVerify": insecure}
    )


async def _clone_is_refused_for_its_certificate(tmp_path, repo, services, name):
    ctx = make_ctx(tmp_path, repo, services, name=name)
    with pytest.raises(errors.StepError) as caught:
        await steps.git_clone(ctx, insecure_clone_cfg(repo, False))
    message = str(caught.value)
    assert message.startswith(f"error cloning {repo}: ")
    assert "certificate" in message
    assert "is not trusted" in message
    assert "set insecureSkipTLSVerify: true on the git-clone step" in message
    assert GIT_PASSWORD not in message


async def test_insecure_clone_skips_tls_verification_for_that_clone_only(
    tmp_path, tls_server, services
):
    repo = tls_server.url("gitops")
    ctx = make_ctx(tmp_path, repo, services)
    cloned = await steps.git_clone(ctx, insecure_clone_cfg(repo, True))
    assert cloned.output == {"commits": {"out": tls_server.branch_head("gitops")}}
    # its commits, pushes and tags keep working through its own (unverified) mirror
    (ctx.work_dir / "out" / "base" / "app.yaml").write_text("image: v2\n")
    await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message="promote v2"))
    pushed = await steps.git_push(ctx, steps.GitPushConfig(path="out"))
    assert pushed.output["commit"] == tls_server.branch_head("gitops")
    await steps.git_tag(ctx, steps.GitTagConfig(path="out", tag="v2", message="two"))
    await steps.git_push(ctx, steps.GitPushConfig(path="out", tag="v2"))
    assert tls_server.log("gitops", "v2") == ["promote v2", "initial"]
    # a later clone of the same URL without the setting verifies, and fails
    await _clone_is_refused_for_its_certificate(tmp_path, repo, services, "promo-2")


async def test_a_refused_clone_does_not_stop_a_later_insecure_one(tmp_path, tls_server, services):
    repo = tls_server.url("gitops")
    await _clone_is_refused_for_its_certificate(tmp_path, repo, services, "promo-1")
    ctx = make_ctx(tmp_path, repo, services, name="promo-2")
    cloned = await steps.git_clone(ctx, insecure_clone_cfg(repo, True))
    assert cloned.output == {"commits": {"out": tls_server.branch_head("gitops")}}
    await _clone_is_refused_for_its_certificate(tmp_path, repo, services, "promo-3")


# --- git-clone run again in the same work dir (an interrupted step is rerun) ------------------


def registrations(services, repo):
    mirror = services[steps.MIRRORS_SERVICE].get(repo, for_promotion=True)
    listed = run(["worktree", "list", "--porcelain"], mirror.path)
    return [line for line in listed.splitlines() if line.startswith("worktree ")][1:]


@pytest.mark.parametrize("lazy", [True, False])
async def test_git_clone_run_again_replaces_its_own_checkout(
    tmp_path, git_server, repo, services, lazy
):
    ctx = make_ctx(tmp_path, repo, services, lazy_checkouts=lazy)
    first = await steps.git_clone(ctx, clone_cfg(repo, branch="main"))
    (ctx.work_dir / "out" / "half-written.txt").write_text("x")
    again = await steps.git_clone(ctx, clone_cfg(repo, branch="main"))
    assert again.output == first.output
    assert not (ctx.work_dir / "out" / "half-written.txt").exists()
    assert len(registrations(services, repo)) == (0 if lazy else 1)
    (ctx.work_dir / "out" / "README.md").write_text("rerun\n")  # top level: lazy ones hold it
    await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message="after a rerun"))
    await steps.git_push(ctx, steps.GitPushConfig(path="out"))
    assert git_server.log("gitops") == ["after a rerun", "initial"]


async def test_git_clone_replaces_a_worktree_killed_before_its_metadata(
    tmp_path, git_server, repo, services
):
    ctx = make_ctx(tmp_path, repo, services)
    await steps.git_clone(ctx, clone_cfg(repo))  # the mirror exists
    mirror = services[steps.MIRRORS_SERVICE].get(repo, for_promotion=True)
    target = ctx.work_dir / "half"
    head = git_server.branch_head("gitops")
    # `git worktree add` done, kargo-checkout.json never written: killed half-way
    run(["worktree", "add", "--detach", str(target), head], mirror.path)
    cfg = steps.GitCloneConfig.model_validate({"repoURL": repo, "checkout": [{"path": "half"}]})
    result = await steps.git_clone(ctx, cfg)
    assert result.output == {"commits": {"half": head}}
    assert [r for r in registrations(services, repo) if r.endswith("/half")] == [
        f"worktree {target}"
    ]
    assert (target / "base" / "app.yaml").read_text() == "image: v1\n"


async def test_git_clone_replaces_a_lazy_state_that_was_never_renamed_into_place(
    tmp_path, repo, services
):
    ctx = make_ctx(tmp_path, repo, services, lazy_checkouts=True)
    (ctx.work_dir / "out").mkdir()
    (ctx.work_dir / "out" / ".git.lock").write_text('{"kargoLazyChec')  # killed mid-write
    await steps.git_clone(ctx, clone_cfg(repo))
    assert (ctx.work_dir / "out" / "README.md").read_text() == "hi\n"


@pytest.mark.parametrize("content", ["files", "other repo", "plain git"])
async def test_git_clone_still_refuses_a_path_holding_anything_else(
    tmp_path, git_server, repo, services, content
):
    ctx = make_ctx(tmp_path, repo, services)
    out = ctx.work_dir / "out"
    if content == "files":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    elif content == "other repo":
        other = git_server.create_repo("other")
        git_server.writer("other").commit({"x": "1"}, "x")
        ctx.credentials = StaticCredentials(
            {repo: Credentials(GIT_USER, GIT_PASSWORD), other: Credentials(GIT_USER, GIT_PASSWORD)}
        )
        await steps.git_clone(ctx, clone_cfg(other))
    else:
        run(["init", "--quiet", str(out)], ctx.work_dir)
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(errors.TerminalStepError) as info:
        await steps.git_clone(ctx, clone_cfg(repo))
    message = str(info.value)
    assert "checkout path out" in message
    assert "is not a checkout that git-clone made" in message
    assert "use a different path" in message
    assert sorted(p.name for p in out.iterdir()) == before


# --- config as Kargo's schema reads it ----------------------------------------------------------


def test_empty_branch_tag_commit_and_as_count_as_not_set():
    cfg = steps.GitCloneConfig.model_validate(
        {
            "repoURL": "https://example.com/r.git",
            "checkout": [{"path": "out", "branch": "", "tag": "", "commit": "x", "as": ""}],
        }
    )
    checkout = cfg.checkout[0]
    assert (checkout.branch, checkout.tag, checkout.commit, checkout.as_) == (None, None, "x", None)


async def test_create_without_branch_is_ignored(tmp_path, git_server, repo, services):
    ctx = make_ctx(tmp_path, repo, services)
    cfg = steps.GitCloneConfig.model_validate(
        {"repoURL": repo, "checkout": [{"path": "out", "create": True, "branch": ""}]}
    )
    result = await steps.git_clone(ctx, cfg)
    assert result.output == {"commits": {"out": git_server.branch_head("gitops")}}


async def test_first_commit_of_a_created_branch_cleans_its_message_like_the_others(
    tmp_path, git_server, repo, services
):
    ctx = make_ctx(tmp_path, repo, services)
    await steps.git_clone(ctx, clone_cfg(repo, branch="fresh", create=True))
    (ctx.work_dir / "out" / "a.txt").write_text("a")
    message = "\n\n  first line   \n\n\n\nbody  \n\n"
    await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message=message))
    await steps.git_push(ctx, steps.GitPushConfig(path="out"))
    recorded = run(["cat-file", "commit", "fresh"], git_server.bare_path("gitops"))
    assert recorded.split("\n\n", 1)[1] == "  first line\n\nbody"  # the headers, then it
    ctx2 = make_ctx(tmp_path, repo, services, name="promo-2")
    await steps.git_clone(ctx2, clone_cfg(repo, branch="fresher", create=True))
    (ctx2.work_dir / "out" / "a.txt").write_text("a")
    with pytest.raises(errors.StepError, match="message is empty"):
        await steps.git_commit(ctx2, steps.GitCommitConfig(path="out", message=" \n\n "))
