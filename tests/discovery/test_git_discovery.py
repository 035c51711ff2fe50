"""Git discovery selects commits like Kargo, and an unchanged poll costs one ls-remote."""

import pytest

from kargo import errors
from kargo.credentials.interface import Credentials
from kargo.discovery import git as discovery
from kargo.git import cli, mirror as mirrors
from tests.fixtures.git import GIT_PASSWORD, GIT_USER

GOOD = Credentials(username=GIT_USER, password=GIT_PASSWORD)


@pytest.fixture
def cache(tmp_path):
    return mirrors.MirrorCache(tmp_path / "mirrors")


@pytest.fixture
def repo(git_server):
    url = git_server.create_repo("app")
    return url, git_server.writer("app")


def _git_commands():
    return sum(cli.COMMAND_COUNTS.values())


async def test_newest_from_branch_defaults_to_remote_head(repo, cache):
    url, writer = repo
    writer.commit({"a": "1"}, "first")
    second = writer.commit({"a": "2"}, "second", author="Ada <ada@example.com>")
    commits, observed = await discovery.discover_commits(
        {"git": {"repoURL": url}}, cache, GOOD, None
    )
    assert observed == {"branchHead": second}
    assert [c["subject"] for c in commits] == ["second", "first"]
    newest = commits[0]
    assert newest["id"] == second
    assert newest["branch"] == "main"
    assert newest["author"] == "Ada <ada@example.com>"
    assert newest["committer"] == "Fixture Committer <committer@example.com>"
    assert newest["creatorDate"].endswith("Z")
    assert "tag" not in newest


async def test_named_branch_and_discovery_limit(repo, cache):
    url, writer = repo
    writer.commit({"a": "0"}, "on main")
    for i in range(5):
        writer.commit({"b": str(i)}, f"dev {i}", branch="develop")
    sub = {"git": {"repoURL": url, "branch": "develop", "discoveryLimit": 2}}
    commits, _ = await discovery.discover_commits(sub, cache, GOOD, None)
    assert [c["subject"] for c in commits] == ["dev 4", "dev 3"]
    assert {c["branch"] for c in commits} == {"develop"}


async def test_missing_branch_is_a_clear_error(repo, cache):
    url, writer = repo
    writer.commit({"a": "1"}, "first")
    sub = {"git": {"repoURL": url, "branch": "nope"}}
    with pytest.raises(errors.DiscoveryError, match="branch 'nope' not found; check git.branch"):
        await discovery.discover_commits(sub, cache, GOOD, None)


async def test_subjects_are_shortened_to_80_characters(repo, cache):
    url, writer = repo
    writer.commit({"a": "1"}, "x" * 100 + "\n\nbody")
    commits, _ = await discovery.discover_commits({"git": {"repoURL": url}}, cache, GOOD, None)
    assert commits[0]["subject"] == "x" * 77 + "..."


async def test_since_stops_at_older_commits(repo, cache):
    url, writer = repo
    writer.commit({"a": "1"}, "old")  # fixture dates advance 60 s per commit from 1700000000
    writer.commit({"a": "2"}, "new")
    sub = {"git": {"repoURL": url, "since": "2023-11-14T22:15:00Z"}}
    commits, _ = await discovery.discover_commits(sub, cache, GOOD, None)
    assert [c["subject"] for c in commits] == ["new"]


@pytest.mark.parametrize(
    ("include", "exclude", "expected"),
    [
        (["apps/"], [], ["apps change", "both"]),
        (["glob:**/*.yaml"], [], ["both", "docs yaml"]),
        (["regex:^apps/.*\\.txt$"], [], ["apps change"]),
        (["regexp:^docs/"], [], ["docs yaml", "both"]),
        ([], ["docs/"], ["apps change", "both"]),
        (["apps/"], ["glob:apps/**/*.txt"], ["both"]),
    ],
)
async def test_include_and_exclude_paths(repo, cache, include, exclude, expected):
    url, writer = repo
    writer.commit({"apps/x/values.yaml": "1", "docs/a.md": "1"}, "both")
    writer.commit({"docs/b.yaml": "1"}, "docs yaml")
    writer.commit({"apps/a.txt": "1"}, "apps change")
    sub = {"git": {"repoURL": url, "includePaths": include, "excludePaths": exclude}}
    commits, _ = await discovery.discover_commits(sub, cache, GOOD, None)
    assert sorted(c["subject"] for c in commits) == sorted(expected)


async def test_filters_walk_past_the_first_page(repo, cache):
    url, writer = repo
    writer.commit({"keep/a": "1"}, "keep")
    for i in range(7):
        writer.commit({"other": str(i)}, f"noise {i}")
    sub = {"git": {"repoURL": url, "includePaths": ["keep/"], "discoveryLimit": 2}}
    commits, _ = await discovery.discover_commits(sub, cache, GOOD, None)
    assert [c["subject"] for c in commits] == ["keep"]


def _tags(writer, names):
    for name in names:
        writer.commit({"v": name}, f"release {name}")
        writer.tag(name, message=f"tag {name}" if name.endswith("1") else None)


async def test_semver_selects_highest_satisfying_tags(repo, cache):
    url, writer = repo
    _tags(writer, ["v1.0.0", "v1.10.0", "v1.2.0", "v2.0.0", "1.3", "nightly"])
    sub = {
        "git": {
            "repoURL": url,
            "commitSelectionStrategy": "SemVer",
            "semverConstraint": "<2.0.0",
        }
    }
    commits, observed = await discovery.discover_commits(sub, cache, GOOD, None)
    assert [c["tag"] for c in commits] == ["v1.10.0", "v1.2.0", "v1.0.0"]
    assert [t["name"] for t in observed["tags"]] == ["v1.0.0", "v1.10.0", "v1.2.0"]
    assert "branch" not in commits[0]
    assert commits[0]["subject"] == "release v1.10.0"


async def test_semver_non_strict_accepts_short_versions(repo, cache):
    url, writer = repo
    _tags(writer, ["1.3", "v1.2.0"])
    sub = {"git": {"repoURL": url, "commitSelectionStrategy": "SemVer", "strictSemvers": False}}
    commits, _ = await discovery.discover_commits(sub, cache, GOOD, None)
    assert [c["tag"] for c in commits] == ["1.3", "v1.2.0"]


async def test_lexical_and_newest_tag_orders(repo, cache):
    url, writer = repo
    _tags(writer, ["b", "c", "a"])
    lexical = {"git": {"repoURL": url, "commitSelectionStrategy": "Lexical"}}
    newest = {"git": {"repoURL": url, "commitSelectionStrategy": "NewestTag"}}
    commits, _ = await discovery.discover_commits(lexical, cache, GOOD, None)
    assert [c["tag"] for c in commits] == ["c", "b", "a"]
    commits, _ = await discovery.discover_commits(newest, cache, GOOD, None)
    assert [c["tag"] for c in commits] == ["a", "c", "b"]


async def test_allow_and_ignore_tag_regexes(repo, cache):
    url, writer = repo
    _tags(writer, ["app-1", "app-2", "lib-1", "app-3-rc"])
    sub = {
        "git": {
            "repoURL": url,
            "commitSelectionStrategy": "Lexical",
            "allowTagsRegexes": ["^app-"],
            "ignoreTagsRegexes": ["-rc$"],
        }
    }
    commits, observed = await discovery.discover_commits(sub, cache, GOOD, None)
    assert [c["tag"] for c in commits] == ["app-2", "app-1"]
    assert [t["name"] for t in observed["tags"]] == ["app-1", "app-2"]


async def test_tag_path_filter_looks_at_the_tagged_commit_only(repo, cache):
    url, writer = repo
    writer.commit({"charts/a": "1"}, "chart change")
    writer.tag("t1")
    writer.commit({"src/a": "1"}, "src change")
    writer.tag("t2")
    sub = {
        "git": {"repoURL": url, "commitSelectionStrategy": "NewestTag", "includePaths": ["charts/"]}
    }
    commits, _ = await discovery.discover_commits(sub, cache, GOOD, None)
    assert [c["tag"] for c in commits] == ["t1"]


@pytest.mark.parametrize(
    ("old", "new"), [("allowTags", "allowTagsRegexes"), ("ignoreTags", "ignoreTagsRegexes")]
)
async def test_deprecated_tag_fields_name_their_replacement(cache, old, new):
    sub = {
        "git": {"repoURL": "https://example.com/r.git", old: "x" if old == "allowTags" else ["x"]}
    }
    with pytest.raises(
        errors.DiscoveryError, match=f"{old} is no longer supported; use {new} instead"
    ):
        await discovery.discover_commits(sub, cache, GOOD, None)


async def test_unchanged_poll_runs_exactly_one_git_command(repo, cache):
    url, writer = repo
    writer.commit({"a": "1"}, "first")
    sub = {"git": {"repoURL": url}}
    commits, observed = await discovery.discover_commits(sub, cache, GOOD, None)
    previous = {"repoURL": url, "commits": commits, "observedRefs": observed}
    before = _git_commands()
    again, observed_again = await discovery.discover_commits(sub, cache, GOOD, previous)
    assert _git_commands() - before == 1
    assert cli.COMMAND_COUNTS["ls-remote"] > 0
    assert again == commits
    assert observed_again == observed


async def test_changed_refs_fetch_only_what_changed(repo, cache):
    url, writer = repo
    writer.commit({"a": "1"}, "first")
    sub = {"git": {"repoURL": url}}
    commits, observed = await discovery.discover_commits(sub, cache, GOOD, None)
    writer.commit({"a": "2"}, "second")
    previous = {"commits": commits, "observedRefs": observed}
    again, observed_again = await discovery.discover_commits(sub, cache, GOOD, previous)
    assert [c["subject"] for c in again] == ["second", "first"]
    assert observed_again != observed
    assert cache.get(url).fetches == 2


async def test_warehouses_on_one_url_share_one_mirror(git_server, cache):
    url = git_server.create_repo("shared")
    git_server.writer("shared").commit({"a": "1"}, "first")
    git_server.writer("shared").tag("v1.0.0")
    await discovery.discover_commits({"git": {"repoURL": url}}, cache, GOOD, None)
    await discovery.discover_commits(
        {"git": {"repoURL": url.removesuffix(".git"), "commitSelectionStrategy": "SemVer"}},
        cache,
        GOOD,
        None,
    )
    assert len(cache) == 1


async def test_wrong_credentials_fail_with_a_fix_and_no_secret(repo, cache):
    url, writer = repo
    writer.commit({"a": "1"}, "first")
    bad = Credentials(username=GIT_USER, password="not-" + GIT_PASSWORD)
    with pytest.raises(errors.DiscoveryError) as info:
        await discovery.discover_commits({"git": {"repoURL": url}}, cache, bad, None)
    assert str(info.value) == (
        f"error discovering commits from {url}: authentication failed for {url}: "
        "check the git credentials for this repoURL"
    )
    assert GIT_PASSWORD not in str(info.value)


async def test_server_down_is_a_clear_discovery_error(git_down_url, cache):
    with pytest.raises(errors.DiscoveryError) as info:
        await discovery.discover_commits({"git": {"repoURL": git_down_url}}, cache, GOOD, None)
    assert f"cannot reach {git_down_url}: check the repoURL and that the git server is up" in str(
        info.value
    )
