"""The quickstart's local sources of truth: bare git repos served over smart HTTP, and a registry.

- `GitHttpServer`: a stdlib HTTP server (one thread) bridging each request to `git
  http-backend`, the real git, over a directory of bare repositories, on 127.0.0.1 only. Kargo
  (and so our Warehouse validation) accepts http(s) and ssh repository URLs, not `file://`, so
  the demo repositories are served the way a real forge serves them.
- `init_bare_repo` / `commit_files`: create a bare repo and commit files (and a tag) to it
  through a scratch clone, with a fixed identity so it works where git has no user configured.
- `LocalRegistry`: the `docker-registry` binary (CNCF distribution) on a loopback port with its
  data in the quickstart directory, and `push_image` uploading a tiny image over the OCI
  distribution API (no docker needed).

Neighbours: `kargo.cli.quickstart_cmd` drives these; `kargo.cli.quickstart_content` says what
goes in them.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx

from kargo import errors

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Kargo Quickstart",
    "GIT_AUTHOR_EMAIL": "quickstart@kargo.invalid",
    "GIT_COMMITTER_NAME": "Kargo Quickstart",
    "GIT_COMMITTER_EMAIL": "quickstart@kargo.invalid",
}
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def git_env() -> dict[str, str]:
    """The environment of git commands run here: never prompts, no system config."""
    env = dict(os.environ)
    env.update(GIT_IDENTITY, GIT_TERMINAL_PROMPT="0", GIT_CONFIG_NOSYSTEM="1")
    return env


def git(args: list[str], cwd: Path) -> str:
    """Run git in `cwd`; a failure is an error naming the command and its output."""
    if shutil.which("git") is None:
        raise errors.UnavailableError(
            "the quickstart needs the `git` command; install it (e.g. `apt-get install git`)"
        )
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=git_env(), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise errors.KargoError(
            f"`git {' '.join(args)}` failed in {cwd}: {(proc.stderr or proc.stdout).strip()}"
        )
    return proc.stdout.strip()


def port_is_free(port: int) -> bool:
    """Whether 127.0.0.1:`port` can be bound now by a server (which sets SO_REUSEADDR)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- git ---------------------------------------------------------------------------------------


def init_bare_repo(path: Path) -> bool:
    """Create a bare repo at `path` (default branch main, pushes over HTTP allowed).

    Returns False when it already existed (the quickstart is idempotent).
    """
    if (path / "HEAD").is_file():
        return False
    path.mkdir(parents=True, exist_ok=True)
    git(["init", "--bare", "--quiet", "--initial-branch=main", str(path)], path.parent)
    git(["config", "http.receivepack", "true"], path)
    return True


def commit_files(bare: Path, files: dict[str, str], message: str, *, tag: str | None = None) -> str:
    """Commit `files` on main of `bare` (and tag the commit); returns the commit ID."""
    with tempfile.TemporaryDirectory(prefix="kargo-quickstart-") as tmp:
        work = Path(tmp) / "work"
        git(["clone", "--quiet", str(bare), str(work)], Path(tmp))
        git(["checkout", "--quiet", "-B", "main"], work)
        for rel, text in files.items():
            target = work / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        git(["add", "--all"], work)
        git(["commit", "--quiet", "--allow-empty", "-m", message], work)
        refs = ["main"]
        if tag:
            git(["tag", "-a", tag, "-m", message], work)
            refs.append(tag)
        git(["push", "--quiet", "origin", *refs], work)
        return git(["rev-parse", "HEAD"], work)


def tags(bare: Path) -> list[str]:
    """The tags of `bare`."""
    return [t for t in git(["tag", "--list"], bare).splitlines() if t]


class GitHandler(BaseHTTPRequestHandler):
    """One smart-HTTP request, answered by `git http-backend` (CGI).

    With `users` set, requests need HTTP Basic auth with one of those user:password pairs; the
    user then reaches git as REMOTE_USER, which allows pushes (the test suite's server uses this).
    """

    protocol_version = "HTTP/1.0"
    root = ""
    users: ClassVar[dict[str, str]] = {}

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _user(self) -> str | None:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            user, password = base64.b64decode(header[6:]).decode().split(":", 1)
        except ValueError:
            return None
        return user if self.users.get(user) == password else None

    def _handle(self) -> None:
        user = self._user() if self.users else None
        if self.users and user is None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        body = self._body()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(Path.home())),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_PROJECT_ROOT": self.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
        if user:
            env["REMOTE_USER"] = user
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        proc = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        head, sep, out = proc.stdout.partition(b"\r\n\r\n")
        if not sep:
            head, _, out = proc.stdout.partition(b"\n\n")
        headers = [line.split(":", 1) for line in head.decode().splitlines() if ":" in line]
        status = next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200)
        self.send_response(status)
        for key, value in headers:
            if key.lower() != "status":
                self.send_header(key, value.strip())
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
        if proc.stderr:
            self.log_message("%s", proc.stderr.decode(errors="replace").strip())

    do_GET = do_POST = _handle

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: the quickstart's screen is for the pipeline."""


class GitHttpServer:
    """Serves the bare repos under `root` at http://127.0.0.1:PORT/<name> until `stop()`."""

    def __init__(self, root: Path, port: int = 0) -> None:
        handler = type("Handler", (GitHandler,), {"root": str(root.absolute())})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="quickstart-git", daemon=True
        )
        self._thread.start()

    def url(self, name: str) -> str:
        """The clone URL of repository `name` (e.g. `gitops.git`)."""
        return f"http://127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


# -- registry ----------------------------------------------------------------------------------


class LocalRegistry:
    """`docker-registry serve` on 127.0.0.1:PORT, storing under `root`."""

    def __init__(self, binary: str, root: Path, port: int) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.url = f"http://{self.host}"
        config = root / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: error\n"
            f"storage:\n  filesystem:\n    rootdirectory: {(root / 'data').absolute()}\n"
            "  cache:\n    blobdescriptor: inmemory\n"
            f"http:\n  addr: 127.0.0.1:{port}\n  secret: kargo-quickstart-local-only\n"
        )
        self.log_path = root / "registry.log"
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_ready()

    def _wait_ready(self, seconds: float = 20.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/v2/", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        tail = self.log_path.read_text(errors="replace")[-2000:]
        self.stop()
        raise errors.UnavailableError(
            f"the local registry (docker-registry on {self.host}) did not start: {tail.strip()}; "
            "run `kargo quickstart --no-registry` to use git tags only"
        )

    def stop(self) -> None:
        """Terminate the registry (bounded wait, then kill)."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_image(registry_url: str, repo: str, tag: str) -> str:
    """Push a one-layer image `repo:tag` over the OCI distribution API; returns its digest."""
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
        payload = f"kargo quickstart demo image {repo}:{tag}\n".encode()
        info = tarfile.TarInfo("VERSION")
        info.size, info.mtime = len(payload), 0
        tar.addfile(info, io.BytesIO(payload))
    layer = gzip.compress(tar_bytes.getvalue(), mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2025-01-01T00:00:00Z",
            "config": {"Labels": {"org.opencontainers.image.version": tag}},
            "rootfs": {"type": "layers", "diff_ids": [_digest(tar_bytes.getvalue())]},
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": _digest(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": _digest(layer), "size": len(layer)}],
        },
        sort_keys=True,
    ).encode()
    base = registry_url.rstrip("/")
    with httpx.Client(timeout=30) as http:
        for blob in (layer, config):
            digest = _digest(blob)
            if http.head(f"{base}/v2/{repo}/blobs/{digest}").status_code == 200:
                continue
            start = http.post(f"{base}/v2/{repo}/blobs/uploads/")
            _check(start, 202, f"start a blob upload to {repo}")
            location = start.headers["Location"]
            if location.startswith("/"):
                location = base + location
            sep = "&" if "?" in location else "?"
            put = http.put(
                f"{location}{sep}digest={digest}",
                content=blob,
                headers={"Content-Type": "application/octet-stream"},
            )
            _check(put, 201, f"upload a blob to {repo}")
        put = http.put(
            f"{base}/v2/{repo}/manifests/{tag}",
            content=manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
        _check(put, 201, f"push {repo}:{tag}")
    return _digest(manifest)


def _check(response: httpx.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise errors.KargoError(
            f"could not {what} on the local registry: HTTP {response.status_code} "
            f"{response.text[:200]}"
        )
