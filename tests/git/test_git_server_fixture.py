"""The smart-HTTP fixture serves real clones and pushes, and enforces Basic auth."""

import subprocess

from tests.fixtures.git import GIT_PASSWORD, GIT_USER, git_env


def _git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, env=git_env(), capture_output=True, text=True)


def test_open_server_clones_and_accepts_pushes(git_open_server, tmp_path):
    url = git_open_server.create_repo("app")
    sha = git_open_server.writer("app").commit({"a.txt": "1"}, "first")
    clone = tmp_path / "clone"
    assert _git("clone", "--quiet", url, str(clone), cwd=tmp_path).returncode == 0
    (clone / "b.txt").write_text("2")
    _git("add", "-A", cwd=clone)
    _git("commit", "-qm", "second", cwd=clone)
    pushed = _git("push", "origin", "HEAD:main", cwd=clone)
    assert pushed.returncode == 0, pushed.stderr
    assert git_open_server.log("app") == ["second", "first"]
    assert git_open_server.branch_head("app") != sha


def test_auth_server_refuses_missing_and_wrong_credentials(git_server, tmp_path):
    url = git_server.create_repo("secret")
    git_server.writer("secret").commit({"a.txt": "1"}, "first")
    anonymous = _git("ls-remote", url, cwd=tmp_path)
    assert anonymous.returncode != 0
    wrong = _git("ls-remote", url.replace("http://", f"http://{GIT_USER}:nope@"), cwd=tmp_path)
    assert "Authentication failed" in wrong.stderr
    right = _git(
        "ls-remote", url.replace("http://", f"http://{GIT_USER}:{GIT_PASSWORD}@"), cwd=tmp_path
    )
    assert right.returncode == 0
    assert "refs/heads/main" in right.stdout


def test_chunked_pushes_over_one_mebibyte_land(git_server, tmp_path):
    url = git_server.create_repo("big").replace("http://", f"http://{GIT_USER}:{GIT_PASSWORD}@")
    clone = tmp_path / "big"
    _git("init", "-q", "-b", "main", str(clone), cwd=tmp_path)
    import os

    (clone / "blob.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    _git("add", "-A", cwd=clone)
    _git("commit", "-qm", "big", cwd=clone)
    pushed = _git("push", url, "HEAD:refs/heads/main", cwd=clone)
    assert pushed.returncode == 0, pushed.stderr
    assert git_server.log("big") == ["big"]
