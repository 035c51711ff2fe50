"""git-push integrates a moved branch by Kargo's integration policies, keeps signatures
meaningful (re-signs what it rebases, never replays a signed commit unsigned), stops at a
conflict, and takes the policy from the operator's GIT_PUSH_INTEGRATION_POLICY."""

import asyncio
import os
import subprocess

import pytest

from kargo import clock as clocks, errors
from kargo.controller import manager as manager_mod
from kargo.git import mirror as mirrors, push as pushes
from kargo.promotion import engine as engine_mod, registry as reg
from kargo.promotion.steps import git as steps
from kargo.server import settings as settings_mod
from kargo.store import open_store
from tests.conftest import require_binary
from tests.fixtures.git import GIT_PASSWORD, git_env, run
from tests.git.contexts import git_ctx, git_services
from tests.promotion.steps.test_git_signing import _make_key

P = pushes.IntegrationPolicy


@pytest.fixture
def repo(git_server):
    url = git_server.create_repo("gitops")
    git_server.writer("gitops").commit({"app.yaml": "image: v1\n", "other.txt": "a\n"}, "initial")
    return url


@pytest.fixture
def key(tmp_path):
    require_binary("gpg")
    return _make_key(tmp_path / "gnupg")


def make_ctx(tmp_path, repo, policy):
    services = git_services(tmp_path, **{steps.POLICY_SERVICE: policy})
    return git_ctx(tmp_path, repo, services, alias="push", git_user=None)


async def clone(ctx, repo, key=None):
    cfg = {"repoURL": repo, "checkout": [{"branch": "main", "path": "out"}]}
    if key is not None:
        cfg["author"] = {"name": "Signer", "email": "signer@example.com", "signingKey": key}
    await steps.git_clone(ctx, steps.GitCloneConfig.model_validate(cfg))


async def commit(ctx, files, message="promote"):
    for rel, content in files.items():
        (ctx.work_dir / "out" / rel).write_text(content)
    cfg = steps.GitCommitConfig(path="out", message=message)
    return (await steps.git_commit(ctx, cfg)).output["commit"]


def commit_by_hand(ctx, files, message, extra_env=None, sign=None):
    """A commit git-commit did not make (e.g. by a custom step): unsigned unless `sign` (a
    key id) is given."""
    out = ctx.work_dir / "out"
    for rel, content in files.items():
        (out / rel).write_text(content)
    run(["add", "-A"], out)
    signing = [f"-S{sign}"] if sign else ["--no-gpg-sign"]
    run(["commit", "--quiet", *signing, "-m", message], out, extra_env)


async def push(ctx):
    return (await steps.git_push(ctx, steps.GitPushConfig(path="out"))).output["commit"]


def bare(git_server, *args, env=None):
    return subprocess.run(
        ["git", *args],
        cwd=git_server.bare_path("gitops"),
        capture_output=True,
        text=True,
        env=git_env(env),
    )


def parents(git_server, rev="main"):
    return bare(git_server, "rev-list", "--parents", "-n", "1", rev).stdout.split()[1:]


def verifier(tmp_path, key):
    """A GNUPGHOME that knows only the key's public half, to check signatures with."""
    home = tmp_path / "verify-gnupg"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(["gpg", "--batch", "--import"], input=key, text=True, env=env, check=True)
    return {"GNUPGHOME": str(home)}


def assert_signed(git_server, gnupg, rev="main"):
    verified = bare(git_server, "verify-commit", rev, env=gnupg)
    assert verified.returncode == 0, verified.stderr
    assert bare(git_server, "log", "-1", "--format=%G?", rev, env=gnupg).stdout.strip() in "GU"


# ------------------------------------------------------------------------------------------
# unsigned commits, no signing: every policy
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "outcome"),
    [
        (P.ALWAYS_REBASE, "rebase"),
        (P.REBASE_OR_MERGE, "rebase"),
        (P.REBASE_OR_FAIL, "rebase"),
        (P.ALWAYS_MERGE, "merge"),
        (P.NONE, "fail"),
    ],
)
async def test_each_policy_integrates_a_moved_branch_as_kargo_does(
    tmp_path, git_server, repo, policy, outcome
):
    ctx = make_ctx(tmp_path, repo, policy)
    await clone(ctx, repo)
    upstream = git_server.writer("gitops").commit({"other.txt": "b\n"}, "upstream")
    await commit(ctx, {"app.yaml": "image: v2\n"})
    if outcome == "fail":
        with pytest.raises(errors.StepError) as err:
            await push(ctx)
        assert "integration policy is None" in str(err.value)
        assert git_server.branch_head("gitops") == upstream
        return
    sha = await push(ctx)
    assert git_server.branch_head("gitops") == sha
    if outcome == "rebase":
        assert parents(git_server) == [upstream]
        assert git_server.log("gitops") == ["promote", "upstream", "initial"]
    else:
        assert len(parents(git_server)) == 2
        assert parents(git_server)[1] == upstream
    assert bare(git_server, "show", "main:app.yaml").stdout == "image: v2\n"
    assert bare(git_server, "show", "main:other.txt").stdout == "b\n"


@pytest.mark.parametrize("policy", [P.ALWAYS_REBASE, P.REBASE_OR_MERGE, P.ALWAYS_MERGE])
async def test_a_conflict_fails_the_push_and_is_never_resolved_by_another_strategy(
    tmp_path, git_server, repo, policy
):
    ctx = make_ctx(tmp_path, repo, policy)
    await clone(ctx, repo)
    upstream = git_server.writer("gitops").commit({"app.yaml": "image: theirs\n"}, "upstream")
    await commit(ctx, {"app.yaml": "image: ours\n"})
    with pytest.raises(errors.StepError) as err:
        await push(ctx)
    message = str(err.value)
    assert "conflicts" in message
    assert f"policy {policy.value}" in message
    assert "manual resolution" in message
    assert ("merging" if policy is P.ALWAYS_MERGE else "rebasing") in message  # no fallback
    assert git_server.branch_head("gitops") == upstream  # nothing was pushed
    assert GIT_PASSWORD not in message


# ------------------------------------------------------------------------------------------
# signing
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", [P.REBASE_OR_MERGE, P.REBASE_OR_FAIL, P.ALWAYS_REBASE])
async def test_a_signed_commit_pushed_after_the_remote_moved_is_rebased_and_re_signed(
    tmp_path, git_server, repo, key, policy
):
    ctx = make_ctx(tmp_path, repo, policy)
    await clone(ctx, repo, key)
    upstream = git_server.writer("gitops").commit({"other.txt": "b\n"}, "upstream")
    await commit(ctx, {"app.yaml": "image: v2\n"})
    sha = await push(ctx)
    assert git_server.branch_head("gitops") == sha
    assert parents(git_server) == [upstream]  # rebased, not merged
    assert_signed(git_server, verifier(tmp_path, key))


async def test_an_unsigned_commit_in_a_signing_checkout_fails_under_rebase_or_fail(
    tmp_path, git_server, repo, key
):
    ctx = make_ctx(tmp_path, repo, P.REBASE_OR_FAIL)
    await clone(ctx, repo, key)
    upstream = git_server.writer("gitops").commit({"other.txt": "b\n"}, "upstream")
    commit_by_hand(ctx, {"app.yaml": "image: v2\n"}, "unsigned")
    with pytest.raises(errors.StepError) as err:
        await push(ctx)
    message = str(err.value)
    assert "RebaseOrFail" in message
    assert "not signed by the checkout's signing key" in message
    assert "GIT_PUSH_INTEGRATION_POLICY" in message
    assert git_server.branch_head("gitops") == upstream
    assert "PRIVATE KEY" not in message


async def test_an_unsigned_commit_in_a_signing_checkout_is_merged_under_rebase_or_merge(
    tmp_path, git_server, repo, key
):
    ctx = make_ctx(tmp_path, repo, P.REBASE_OR_MERGE)
    await clone(ctx, repo, key)
    upstream = git_server.writer("gitops").commit({"other.txt": "b\n"}, "upstream")
    commit_by_hand(ctx, {"app.yaml": "image: v2\n"}, "unsigned")
    local = run(["rev-parse", "HEAD"], ctx.work_dir / "out")
    await push(ctx)
    assert parents(git_server) == [local, upstream]  # the unsigned commit kept as it was
    assert_signed(git_server, verifier(tmp_path, key))  # the merge commit is signed


async def test_a_signed_commit_in_a_checkout_without_signing_is_not_rebased_by_rebase_or_fail(
    tmp_path, git_server, repo, key
):
    ctx = make_ctx(tmp_path, repo, P.REBASE_OR_FAIL)
    await clone(ctx, repo)
    git_server.writer("gitops").commit({"other.txt": "b\n"}, "upstream")
    signer = {"GNUPGHOME": str(tmp_path / "gnupg")}
    fingerprint = subprocess.run(
        ["gpg", "--batch", "--with-colons", "--list-secret-keys"],
        env={**os.environ, **signer},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    keyid = next(line.split(":")[9] for line in fingerprint.splitlines() if line.startswith("fpr:"))
    commit_by_hand(ctx, {"app.yaml": "image: v2\n"}, "signed elsewhere", signer, sign=keyid)
    with pytest.raises(errors.StepError) as err:
        await push(ctx)
    assert "signing is not enabled for this checkout" in str(err.value)
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env={**os.environ, **signer}, check=False)


async def test_a_signed_commit_is_never_replayed_in_a_batch(tmp_path, git_server, repo, key):
    """Two promotions carried by one push: the signing one is rebased and re-signed, the
    other is replayed; both land and the signed one still verifies."""
    services = {
        steps.MIRRORS_SERVICE: mirrors.MirrorCache(tmp_path / "mirrors"),
        steps.PUSH_SERVICE: pushes.PushCoordinator(max_linger=30.0, gap=30.0),
    }
    ctxs = []
    for name in ("signed", "plain"):
        ctxs.append(
            git_ctx(tmp_path, repo, services, name, alias="push", git_user=None, stage=name)
        )
    await clone(ctxs[0], repo, key)
    await clone(ctxs[1], repo)
    upstream = git_server.writer("gitops").commit({"other.txt": "b\n"}, "upstream")
    await commit(ctxs[0], {"app.yaml": "image: v2\n"}, "signed")
    await commit(ctxs[1], {"plain.txt": "x\n"}, "plain")
    shas = await asyncio.gather(push(ctxs[0]), push(ctxs[1]))
    assert services[steps.PUSH_SERVICE].stats.batches == [2]
    assert parents(git_server, shas[0]) == [upstream]
    assert_signed(git_server, verifier(tmp_path, key), shas[0])
    assert git_server.branch_head("gitops") == shas[1]


# ------------------------------------------------------------------------------------------
# the operator's setting
# ------------------------------------------------------------------------------------------


def test_the_policy_setting_is_read_from_the_environment(tmp_path, monkeypatch):
    env = {"GIT_PUSH_INTEGRATION_POLICY": "AlwaysMerge"}
    s = settings_mod.Settings.from_env(env, data_dir=tmp_path)
    assert s.git_push_integration_policy is P.ALWAYS_MERGE
    assert settings_mod.Settings.from_env({}, data_dir=tmp_path).git_push_integration_policy is (
        P.REBASE_OR_MERGE
    )
    monkeypatch.setenv("GIT_PUSH_INTEGRATION_POLICY", "RebaseOrFail")
    assert manager_mod.git_push_policy() is P.REBASE_OR_FAIL


def test_an_unknown_policy_stops_the_server_at_startup_with_the_allowed_values(
    tmp_path, monkeypatch
):
    with pytest.raises(errors.ValidationError) as err:
        settings_mod.Settings.from_env({"GIT_PUSH_INTEGRATION_POLICY": "Rebase"}, data_dir=tmp_path)
    problem = err.value.problems[0]
    assert problem.path == "GIT_PUSH_INTEGRATION_POLICY"
    assert "'Rebase' is not a git push integration policy" in problem.message
    for allowed in ("None", "AlwaysRebase", "RebaseOrMerge", "RebaseOrFail", "AlwaysMerge"):
        assert allowed in problem.hint
    monkeypatch.setenv("GIT_PUSH_INTEGRATION_POLICY", "rebase-or-merge")
    with pytest.raises(errors.ValidationError) as raised:
        manager_mod.git_push_policy()
    assert "RebaseOrMerge" in raised.value.message


async def test_the_operators_policy_reaches_every_git_push(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_PUSH_INTEGRATION_POLICY", "AlwaysMerge")
    store = await open_store(f"sqlite:///{tmp_path / 'kargo.db'}", clock=clocks.ManualClock())
    try:
        services = engine_mod.EngineServices()
        manager_mod.build_manager(
            store,
            clock=clocks.ManualClock(),
            registry=reg.StepRegistry(),
            work_root=tmp_path / "work",
            services=services,
        )
        assert services.extra[steps.POLICY_SERVICE] is P.ALWAYS_MERGE
    finally:
        await store.close()
