"""git-clone's `create` makes a missing branch as Kargo does: one empty "Initial commit" by the
clone's author, pushed at clone time (never in a preview), then checked out like any branch."""

import asyncio

import pytest

from kargo.credentials.interface import Credentials
from kargo.git import mirror as mirrors, push as pushes, worktree as worktrees
from kargo.promotion.steps import git as steps
from tests.fixtures.git import GIT_PASSWORD, GIT_USER, run
from tests.git.contexts import git_ctx as make_ctx, git_services

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


@pytest.fixture
def repo(git_server):
    url = git_server.create_repo("gitops")
    git_server.writer("gitops").commit({"app.yaml": "image: v1\n"}, "initial")
    return url


def services(tmp_path, name="replica"):
    """One replica's mirrors and push coordinator."""
    return git_services(tmp_path / name)


def create_cfg(repo, branch="stage/dev", **extra):
    return steps.GitCloneConfig.model_validate(
        {"repoURL": repo, "checkout": [{"path": "out", "branch": branch, "create": True}], **extra}
    )


def on_server(git_server, *args):
    return run(list(args), git_server.bare_path("gitops"))


@pytest.mark.parametrize("lazy", [False, True], ids=["full-checkout", "lazy-checkout"])
async def test_the_initial_commit_is_on_the_server_before_any_push(
    tmp_path, git_server, repo, lazy
):
    ctx = make_ctx(tmp_path, repo, services(tmp_path), lazy_checkouts=lazy)
    author = {"name": "Ana", "email": "ana@x.io"}
    cloned = await steps.git_clone(ctx, create_cfg(repo, author=author))

    sha = git_server.branch_head("gitops", "stage/dev")
    assert cloned.output == {"commits": {"out": sha}}
    shown = on_server(git_server, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%P|%T|%B", sha)
    assert shown == f"Ana <ana@x.io>|Ana <ana@x.io>||{EMPTY_TREE}|Initial commit"
    checkout = ctx.work_dir / "out"
    assert await worktrees.head(checkout) == sha
    assert worktrees.read_checkout(checkout).branch == "stage/dev"
    assert worktrees.read_checkout(checkout).lazy is lazy

    (checkout / "env" / "dev").mkdir(parents=True)
    (checkout / "env" / "dev" / "app.yaml").write_text("image: v2\n")
    committed = await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message="render"))
    pushed = await steps.git_push(ctx, steps.GitPushConfig(path="out"))

    assert pushed.output["commit"] == committed.output["commit"]
    assert git_server.log("gitops", "stage/dev") == ["render", "Initial commit"]
    assert on_server(git_server, "rev-parse", "stage/dev^") == sha
    assert on_server(git_server, "ls-tree", "-r", "--name-only", "stage/dev") == "env/dev/app.yaml"


async def test_without_an_author_the_system_git_user_makes_it(tmp_path, git_server, repo):
    ctx = make_ctx(tmp_path, repo, services(tmp_path))
    await steps.git_clone(ctx, create_cfg(repo))
    shown = on_server(git_server, "log", "-1", "--format=%an <%ae>|%cn", "stage/dev")
    assert shown == "Kargo Bot <bot@example.com>|Kargo Bot"


@pytest.mark.parametrize("lazy", [False, True], ids=["full-checkout", "lazy-checkout"])
async def test_a_created_branch_can_be_cleared_and_rendered(tmp_path, git_server, repo, lazy):
    ctx = make_ctx(tmp_path, repo, services(tmp_path), lazy_checkouts=lazy)
    await steps.git_clone(ctx, create_cfg(repo))
    await steps.git_clear(ctx, steps.GitClearConfig(path="out"))
    (ctx.work_dir / "out" / "a.yaml").write_text("a: 1\n")
    await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message="render"))
    await steps.git_push(ctx, steps.GitPushConfig(path="out"))
    assert git_server.log("gitops", "stage/dev") == ["render", "Initial commit"]
    assert on_server(git_server, "ls-tree", "-r", "--name-only", "stage/dev") == "a.yaml"


async def test_an_existing_branch_is_checked_out_and_nothing_is_created(tmp_path, git_server, repo):
    writer = git_server.writer("gitops")
    tip = writer.commit({"b.yaml": "b\n"}, "theirs", branch="stage/dev")
    ctx = make_ctx(tmp_path, repo, services(tmp_path))
    cloned = await steps.git_clone(ctx, create_cfg(repo))
    assert cloned.output == {"commits": {"out": tip}}
    assert git_server.branch_head("gitops", "stage/dev") == tip


async def test_promotions_creating_the_same_branch_at_once_share_one_initial_commit(
    tmp_path, git_server, repo
):
    # two promotions of one replica (one coordinator) and one of another replica (its own
    # mirror and coordinator), all cloning the missing branch at the same moment
    one, other = services(tmp_path, "one"), services(tmp_path, "other")
    ctxs = [
        make_ctx(tmp_path, repo, one, name="a"),
        make_ctx(tmp_path, repo, one, name="b"),
        make_ctx(tmp_path, repo, other, name="c"),
    ]

    cloned = await asyncio.gather(*(steps.git_clone(c, create_cfg(repo)) for c in ctxs))

    initial = git_server.branch_head("gitops", "stage/dev")
    assert [c.output["commits"]["out"] for c in cloned] == [initial] * 3
    for ctx in ctxs:
        (ctx.work_dir / "out" / f"{ctx.promotion}.yaml").write_text(f"{ctx.promotion}\n")
        await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message=ctx.promotion))
    await asyncio.gather(*(steps.git_push(c, steps.GitPushConfig(path="out")) for c in ctxs))

    log = git_server.log("gitops", "stage/dev")
    assert log.count("Initial commit") == 1
    assert log[-1] == "Initial commit"
    assert sorted(log[:-1]) == ["a", "b", "c"]


async def test_a_branch_created_elsewhere_meanwhile_is_fetched_and_used(tmp_path, git_server, repo):
    cache = mirrors.MirrorCache(tmp_path / "mirrors")
    mirror = cache.get(repo, for_promotion=True)
    credentials = Credentials(GIT_USER, GIT_PASSWORD)
    await mirror.fetch(credentials, [steps.BRANCHES_REFSPEC], prune=True, history=False)
    ours = await worktrees.initial_commit(mirror, worktrees.Identity("Ana", "ana@x.io"))
    # another replica (or a person) creates the branch after our fetch
    theirs = git_server.writer("gitops").commit({"x": "1"}, "theirs", branch="stage/dev")
    coordinator = pushes.PushCoordinator()

    got = await coordinator.create_branch(mirror, "stage/dev", ours, credentials)

    assert got == theirs == git_server.branch_head("gitops", "stage/dev")
    assert await mirror.rev_parse(mirrors.HEADS + "stage/dev") == theirs
    assert coordinator.stats.pushes == 0


async def test_a_preview_pushes_nothing_and_shows_every_file_added(tmp_path, git_server, repo):
    refs = on_server(git_server, "for-each-ref", "--format=%(refname) %(objectname)")
    replica = services(tmp_path)
    ctx = make_ctx(tmp_path, repo, replica, dry_run=True)

    cloned = await steps.git_clone(ctx, create_cfg(repo))
    (ctx.work_dir / "out" / "a.yaml").write_text("a: 1\n")
    await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message="render"))
    pushed = await steps.git_push(ctx, steps.GitPushConfig(path="out"))

    assert on_server(git_server, "for-each-ref", "--format=%(refname) %(objectname)") == refs
    initial = cloned.output["commits"]["out"]
    assert run(["log", "-1", "--format=%s|%T", initial], ctx.work_dir / "out") == (
        f"Initial commit|{EMPTY_TREE}"
    )
    assert pushed.output["dryRun"] is True
    assert "+++ b/a.yaml" in pushed.output["diff"]
    assert "+a: 1" in pushed.output["diff"]
    mirror = replica[steps.MIRRORS_SERVICE].get(repo)
    assert await mirror.rev_parse(mirrors.HEADS + "stage/dev") is None  # still missing
