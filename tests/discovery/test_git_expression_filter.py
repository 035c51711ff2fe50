"""expressionFilter narrows git discovery with Kargo's expression language (commits and tags)."""

import pytest

from kargo import errors
from kargo.credentials.interface import Credentials
from kargo.discovery import git as discovery
from kargo.git import mirror as mirrors
from tests.fixtures.git import GIT_PASSWORD, GIT_USER

GOOD = Credentials(username=GIT_USER, password=GIT_PASSWORD)


@pytest.fixture
def cache(tmp_path):
    return mirrors.MirrorCache(tmp_path / "mirrors")


@pytest.fixture
def repo(git_server):
    url = git_server.create_repo("app")
    return url, git_server.writer("app")


async def test_commit_filter_sees_subject_author_and_date(repo, cache):
    url, writer = repo
    writer.commit({"a": "1"}, "feat: one", author="Ada <ada@example.com>")
    writer.commit({"a": "2"}, "chore: skip me", author="Ada <ada@example.com>")
    writer.commit({"a": "3"}, "feat: by bob", author="Bob <bob@example.com>")
    expr = "subject startsWith 'feat' && author contains 'ada@' && commitDate.Year() == 2023"
    sub = {"git": {"repoURL": url, "expressionFilter": expr}}
    commits, _ = await discovery.discover_commits(sub, cache, GOOD, None)
    assert [c["subject"] for c in commits] == ["feat: one"]


async def test_tag_filter_sees_tag_annotation_and_tagger(repo, cache):
    url, writer = repo
    writer.commit({"a": "1"}, "one")
    writer.tag("v1.0.1", message="approved release")
    writer.commit({"a": "2"}, "two")
    writer.tag("v1.0.2", message="draft")
    writer.commit({"a": "3"}, "three")
    writer.tag("v1.0.3")
    sub = {
        "git": {
            "repoURL": url,
            "commitSelectionStrategy": "SemVer",
            "expressionFilter": "annotation contains 'approved' && tagger contains 'committer@'",
        }
    }
    commits, _ = await discovery.discover_commits(sub, cache, GOOD, None)
    assert [c["tag"] for c in commits] == ["v1.0.1"]


async def test_non_boolean_results_are_parsed_like_go(repo, cache):
    url, writer = repo
    writer.commit({"a": "1"}, "keep")
    writer.commit({"a": "2"}, "drop")
    sub = {"git": {"repoURL": url, "expressionFilter": "subject == 'keep' ? '1' : 'false'"}}
    commits, _ = await discovery.discover_commits(sub, cache, GOOD, None)
    assert [c["subject"] for c in commits] == ["keep"]


async def test_a_result_that_is_not_a_boolean_is_a_clear_error(repo, cache):
    url, writer = repo
    writer.commit({"a": "1"}, "x")
    sub = {"git": {"repoURL": url, "expressionFilter": "subject"}}
    with pytest.raises(errors.DiscoveryError, match="returned 'x', not a boolean"):
        await discovery.discover_commits(sub, cache, GOOD, None)


async def test_a_broken_expression_names_the_field(repo, cache):
    url, writer = repo
    writer.commit({"a": "1"}, "x")
    sub = {"git": {"repoURL": url, "expressionFilter": "subject ==="}}
    with pytest.raises(errors.DiscoveryError, match="expressionFilter"):
        await discovery.discover_commits(sub, cache, GOOD, None)
