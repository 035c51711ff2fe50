"""`kargo quickstart` reuses what a previous run left: password, ports, repositories.

In-process and offline: the helpers that decide what to reuse, on real sockets and real git.
"""

from __future__ import annotations

import socket
import stat

import pytest

from kargo import errors
from kargo.cli import quickstart_cmd, quickstart_content as content, quickstart_sources as qs


def test_the_admin_password_is_generated_once_and_kept_private(tmp_path):
    layout = quickstart_cmd.Layout(tmp_path)
    first = quickstart_cmd._password(layout)
    assert len(first) >= 20
    assert stat.S_IMODE(layout.password_file.stat().st_mode) == 0o600
    assert quickstart_cmd._password(layout) == first


def test_an_explicit_port_in_use_is_refused_with_what_to_do():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(errors.ConflictError, match="choose another with --port"):
            quickstart_cmd._pick_port(port, 0)
        # A saved port that is taken now is replaced by another free one.
        assert quickstart_cmd._pick_port(0, port) != port


def test_a_saved_free_port_is_reused():
    port = qs.free_port()
    assert quickstart_cmd._pick_port(0, port) == port


def test_repositories_are_created_once(tmp_path):
    bare = tmp_path / "gitops.git"
    assert qs.init_bare_repo(bare) is True
    qs.commit_files(bare, content.gitops_files(), "first")
    assert qs.init_bare_repo(bare) is False
    assert qs.git(["rev-list", "--count", "main"], bare) == "1"


def test_a_release_tag_lands_on_main_of_the_bare_repository(tmp_path):
    bare = tmp_path / "app.git"
    qs.init_bare_repo(bare)
    first = qs.commit_files(bare, content.app_files("1.0.0"), "release 1.0.0", tag="v1.0.0")
    second = qs.commit_files(bare, content.app_files("1.0.1"), "release 1.0.1", tag="v1.0.1")
    assert qs.tags(bare) == ["v1.0.0", "v1.0.1"]
    assert qs.git(["rev-parse", "main"], bare) == second != first
    assert quickstart_cmd.next_version(qs.tags(bare)) == "1.0.2"


def test_the_git_http_server_serves_clones_and_accepts_pushes(tmp_path):
    repos = tmp_path / "repos"
    qs.init_bare_repo(repos / "gitops.git")
    qs.commit_files(repos / "gitops.git", content.gitops_files(), "first")
    server = qs.GitHttpServer(repos)
    try:
        clone = tmp_path / "clone"
        qs.git(["clone", "--quiet", server.url("gitops.git"), str(clone)], tmp_path)
        assert (clone / "stages" / "prod" / "kustomization.yaml").is_file()
        qs.git(["checkout", "--quiet", "-b", "stage/test"], clone)
        qs.git(["push", "--quiet", "origin", "stage/test"], clone)
    finally:
        server.stop()
    assert "stage/test" in qs.git(["branch", "--list"], repos / "gitops.git")
