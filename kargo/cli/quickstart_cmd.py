"""`kargo quickstart`: a whole promotion pipeline on this machine, in one command, offline.

In `--dir` (default `./kargo-quickstart`) it creates, or reuses when run again:
- `repos/gitops.git`: a bare GitOps repository (kustomize base + test/uat/prod overlays, from
  `kargo.cli.quickstart_content`) and `repos/app.git`: the application, one tag per version;
  both served over smart HTTP on 127.0.0.1 (`kargo.cli.quickstart_sources.GitHttpServer`);
- when `docker-registry` is on PATH (and not `--no-registry`): a local OCI registry holding the
  image `kargo-demo/app`, one tag per version;
- `server/`: a `kargo server` run in this process on SQLite, with a generated admin password
  kept in `admin-password` (mode 0600) so that later runs and `kargo login` can use it;
- the pipeline: Project, ProjectConfig (auto-promotion for test and uat), Warehouse,
  PromotionTask and the test -> uat -> prod Stages.

It then shows Freight being created and promoted to test and uat, prints the commands to log in
and promote to prod by hand, and serves until Ctrl-C (or SIGTERM). `kargo quickstart release`
publishes the next version (a git tag, and an image when the registry is used) and refreshes
the Warehouse. Neighbours: `kargo.server.app` / `kargo.server.auth` (the in-process server),
`kargo.cli.client` (the API calls), `kargo.cli.quickstart_progress` (what is shown).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console

from kargo import errors
from kargo.cli import (
    client as client_mod,
    quickstart_content as content,
    quickstart_progress as progress,
    quickstart_sources as sources_mod,
)

DEFAULT_DIR = Path("kargo-quickstart")
DEFAULT_PORT = 8080
READY_SECONDS = 60.0
FLOW_SECONDS = 180.0
IMAGE_PATH = "kargo-demo/app"  # the repository in the local registry

app = typer.Typer(
    help="Run a complete local pipeline (git, registry, server, test -> uat -> prod).",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

DirOpt = Annotated[
    Path, typer.Option("--dir", help="where the quickstart keeps everything (reused when re-run)")
]


@dataclass
class State:
    """What a quickstart directory remembers between runs (`quickstart.json`)."""

    server_port: int = 0
    git_port: int = 0
    registry_port: int = 0  # 0: no registry

    @classmethod
    def load(cls, path: Path) -> State:
        """The saved state, or a fresh one."""
        if not path.is_file():
            return cls()
        try:
            raw = json.loads(path.read_text())
            return cls(
                **{k: int(raw.get(k) or 0) for k in ("server_port", "git_port", "registry_port")}
            )
        except (ValueError, TypeError) as err:
            raise errors.ValidationError(
                f"{path} is not a quickstart state file ({err}); delete it, or choose another --dir"
            ) from None

    def save(self, path: Path) -> None:
        """Write the state."""
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")


@dataclass(frozen=True)
class Layout:
    """The paths inside a quickstart directory."""

    root: Path

    @property
    def repos(self) -> Path:
        return self.root / "repos"

    @property
    def gitops(self) -> Path:
        return self.repos / "gitops.git"

    @property
    def app(self) -> Path:
        return self.repos / "app.git"

    @property
    def server(self) -> Path:
        return self.root / "server"

    @property
    def registry(self) -> Path:
        return self.root / "registry"

    @property
    def password_file(self) -> Path:
        return self.root / "admin-password"

    @property
    def state_file(self) -> Path:
        return self.root / "quickstart.json"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"


def _pick_port(wanted: int, saved: int, default: int = 0) -> int:
    """An explicit port, else the saved one when free, else `default` when free, else any."""
    if wanted:
        if not sources_mod.port_is_free(wanted):
            raise errors.ConflictError(
                f"port {wanted} on 127.0.0.1 is in use; choose another with --port"
            )
        return wanted
    for port in (saved, default):
        if port and sources_mod.port_is_free(port):
            return port
    return sources_mod.free_port()


def _password(layout: Layout) -> str:
    """The admin password of this directory's server (generated once, kept mode 0600)."""
    path = layout.password_file
    if path.is_file():
        value = path.read_text().strip()
        if value:
            return value
    value = secrets.token_urlsafe(18)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    return value


def next_version(existing: list[str]) -> str:
    """The patch version after the highest `vX.Y.Z` tag (1.0.0 when there is none)."""
    best: tuple[int, int, int] | None = None
    for tag in existing:
        parts = tag.removeprefix("v").split(".")
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            triple = (int(parts[0]), int(parts[1]), int(parts[2]))
            best = triple if best is None or triple > best else best
    if best is None:
        return content.FIRST_VERSION
    return f"{best[0]}.{best[1]}.{best[2] + 1}"


def _registry_binary(no_registry: bool) -> str | None:
    return None if no_registry else shutil.which("docker-registry")


class _InProcessServer:
    """`kargo server` (API + controllers) on uvicorn in a background thread of this process."""

    def __init__(self, layout: Layout, port: int, password: str) -> None:
        # Imported here: other commands start without loading the server (FastAPI, uvicorn).
        import uvicorn

        from kargo.server import app as app_mod, auth, settings as settings_mod

        settings = settings_mod.Settings(
            host="127.0.0.1",
            port=port,
            data_dir=layout.server,
            admin_password=password,
            log_level="warning",
        )
        settings.check_safe()
        layout.server.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(layout.log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # our own polling
        boot = auth.bootstrap(settings)
        application = app_mod.create_app(settings, auth_state=boot.state)
        config = uvicorn.Config(
            application,
            host="127.0.0.1",
            port=port,
            log_config=None,
            lifespan="on",
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        self.url = f"http://127.0.0.1:{port}"
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="kargo-server", daemon=True)
        self._thread.start()

    def wait_ready(self, seconds: float = READY_SECONDS) -> None:
        """Wait until the socket is bound and the app started (raises when it does not)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._server.started:
                return
            if not self._thread.is_alive():
                break
            time.sleep(0.05)
        raise errors.UnavailableError(
            f"the Kargo server did not start on {self.url}; see its log for why"
        )

    def stop(self) -> None:
        """Graceful shutdown: stop accepting, stop the controllers, close the store."""
        self._server.should_exit = True
        self._thread.join(15)


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """SIGTERM ends the quickstart like Ctrl-C (so a supervisor or a test can stop it)."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _prepare_sources(
    layout: Layout, state: State, registry_binary: str | None, console: Console
) -> sources_mod.LocalRegistry | None:
    """Create the repositories (first run only) and start the registry when there is one."""
    if sources_mod.init_bare_repo(layout.gitops):
        sources_mod.commit_files(
            layout.gitops, content.gitops_files(), "kargo-demo: base and stage overlays"
        )
        console.print(f"created the GitOps repository {layout.gitops}")
    if sources_mod.init_bare_repo(layout.app) or not sources_mod.tags(layout.app):
        version = content.FIRST_VERSION
        sources_mod.commit_files(
            layout.app, content.app_files(version), f"release {version}", tag=f"v{version}"
        )
        console.print(f"created the application repository {layout.app} (tag v{version})")
    if registry_binary is None:
        state.registry_port = 0
        return None
    port = _pick_port(0, state.registry_port)
    registry = sources_mod.LocalRegistry(registry_binary, layout.registry, port)
    state.registry_port = port
    for tag in sources_mod.tags(layout.app):
        version = tag.removeprefix("v")
        sources_mod.push_image(registry.url, IMAGE_PATH, version)
    return registry


def run_quickstart(directory: Path, port: int, no_registry: bool, console: Console) -> None:
    """Build or reuse the quickstart in `directory`, show Freight flowing, serve until Ctrl-C."""
    layout = Layout(directory.absolute())
    layout.root.mkdir(parents=True, exist_ok=True)
    state = State.load(layout.state_file)
    first_run = not layout.password_file.is_file()
    password = _password(layout)
    server_port = _pick_port(port, state.server_port, DEFAULT_PORT)
    registry_binary = _registry_binary(no_registry)
    stack = contextlib.ExitStack()
    with stack, _stop_on_sigterm():
        registry = _prepare_sources(layout, state, registry_binary, console)
        if registry is not None:
            stack.callback(registry.stop)
        git_server = sources_mod.GitHttpServer(layout.repos, _pick_port(0, state.git_port))
        stack.callback(git_server.stop)
        state.git_port = git_server.port
        pipeline = content.Sources(
            gitops_url=git_server.url("gitops.git"),
            app_url=git_server.url("app.git"),
            image_repo=f"{registry.host}/{IMAGE_PATH}" if registry else None,
        )
        server = _InProcessServer(layout, server_port, password)
        stack.callback(server.stop)
        server.wait_ready()
        state.server_port = server_port
        state.save(layout.state_file)
        console.print(f"Kargo server listening on {server.url} (log: {layout.log_file})")
        with client_mod.Client(server.url) as anon:
            token = anon.login(password)
        with client_mod.Client(server.url, token) as api:
            api.request(
                "PUT",
                "/v1beta1/resources",
                content=content.manifests(pipeline).encode(),
                headers={"Content-Type": "application/yaml"},
            )
            console.print(
                f"applied project {content.PROJECT}: Warehouse {content.WAREHOUSE}, "
                "Stages test -> uat -> prod (auto-promotion for test and uat)"
            )
            api.request(
                "POST",
                f"/v1beta1/projects/{content.PROJECT}/warehouses/{content.WAREHOUSE}/refresh",
            )
            watcher = progress.Watcher(api, console)
            try:
                flowed = watcher.wait_for_flow(FLOW_SECONDS)
            except KeyboardInterrupt:
                console.print("stopping")
                return
            shown = password if first_run else None
            _print_instructions(console, layout, server.url, flowed, pipeline, shown)
            try:
                watcher.follow()
            except KeyboardInterrupt:
                console.print("stopping (run `kargo quickstart` again to resume)")


def _print_instructions(
    console: Console,
    layout: Layout,
    url: str,
    flowed: progress.Snapshot,
    pipeline: content.Sources,
    new_password: str | None,
) -> None:
    alias = flowed.alias_in("uat") or "<alias>"
    kargo = kargo_command()
    dir_arg = _shell_path(layout.root)
    console.print()
    console.print("[bold]Freight reached uat.[/bold]")
    if new_password is not None:
        console.print(
            f"Generated an admin password (shown this once; kept in {layout.password_file}, "
            f"mode 0600): {new_password}"
        )
    else:
        console.print(f"The admin password is in {layout.password_file}.")
    console.print("Log in (from another shell):")
    console.print(
        f"  {kargo} login {url} --admin --password-stdin < {_shell_path(layout.password_file)}",
        soft_wrap=True,
    )
    console.print("To promote to prod (prod is promoted by hand):")
    console.print(
        f"  {kargo} promote --project {content.PROJECT} --freight-alias {alias} --stage prod",
        soft_wrap=True,
    )
    console.print("Then see it on the prod branch:")
    console.print(
        f"  git --git-dir {_shell_path(layout.gitops)} show stage/prod:stages/prod/kustomization.yaml",
        soft_wrap=True,
    )
    console.print(
        "To publish a new version (a git tag"
        + (" and an image" if pipeline.image_repo else "")
        + ") and refresh the Warehouse:"
    )
    console.print(f"  {kargo} quickstart release --dir {dir_arg}", soft_wrap=True)
    console.print("or by hand:")
    console.print(
        f"  git clone {pipeline.app_url} app && cd app && git commit --allow-empty -m next "
        "&& git tag vX.Y.Z && git push origin HEAD vX.Y.Z",
        soft_wrap=True,
    )
    console.print(
        f"  {kargo} refresh warehouse {content.WAREHOUSE} --project {content.PROJECT}",
        soft_wrap=True,
    )
    console.print("Serving until Ctrl-C; changes are shown below.")


def kargo_command() -> str:
    """`kargo` when that name on PATH is this program, else this program's path (e.g. a venv)."""
    argv0 = Path(sys.argv[0])
    if argv0.name != "kargo":
        return "kargo"
    found = shutil.which("kargo")
    if found and Path(found).resolve() == argv0.resolve():
        return "kargo"
    return _shell_path(argv0.absolute())


def _shell_path(path: Path) -> str:
    text = str(path)
    return text if all(c.isalnum() or c in "/._-+:@" for c in text) else f"'{text}'"


def release_version(directory: Path, version: str | None, console: Console) -> str:
    """Publish the next version in `directory`'s quickstart and refresh its Warehouse."""
    layout = Layout(directory.absolute())
    if not layout.state_file.is_file():
        raise errors.NotFoundError(
            f"no quickstart in {layout.root}; run `kargo quickstart --dir {layout.root}` first"
        )
    state = State.load(layout.state_file)
    existing = sources_mod.tags(layout.app)
    version = (version or next_version(existing)).removeprefix("v")
    if f"v{version}" in existing:
        raise errors.ConflictError(f"version {version} already exists; choose a higher one")
    if state.registry_port:
        url = f"http://127.0.0.1:{state.registry_port}"
        try:
            sources_mod.push_image(url, IMAGE_PATH, version)
        except Exception as err:
            raise errors.UnavailableError(
                f"cannot push the image to the quickstart's registry at {url} ({err}); is "
                "`kargo quickstart` running?"
            ) from None
        console.print(f"pushed image 127.0.0.1:{state.registry_port}/{IMAGE_PATH}:{version}")
    commit = sources_mod.commit_files(
        layout.app, content.app_files(version), f"release {version}", tag=f"v{version}"
    )
    console.print(f"tagged v{version} ({commit[:7]}) in {layout.app}")
    server = f"http://127.0.0.1:{state.server_port}"
    try:
        with client_mod.Client(server) as anon:
            token = anon.login(_password(layout))
        with client_mod.Client(server, token) as api:
            api.request(
                "POST",
                f"/v1beta1/projects/{content.PROJECT}/warehouses/{content.WAREHOUSE}/refresh",
            )
    except errors.UnavailableError:
        console.print(
            "the quickstart's server is not running; the Warehouse will see this version when "
            "`kargo quickstart` runs again"
        )
        return version
    console.print(f"refreshed Warehouse {content.WAREHOUSE}: test and uat will get {version}")
    return version


@app.callback(invoke_without_command=True)
def quickstart(
    ctx: typer.Context,
    directory: DirOpt = DEFAULT_DIR,
    port: Annotated[
        int, typer.Option(help="API port (default: the last one used, else 8080, else any)")
    ] = 0,
    no_registry: Annotated[
        bool,
        typer.Option("--no-registry", help="use git tags only, even if docker-registry exists"),
    ] = False,
) -> None:
    """Run a complete local pipeline: git repos, a registry, the server, test -> uat -> prod.

    Offline, no Kubernetes, no Argo CD. Re-running in the same --dir reuses everything.
    """
    if ctx.invoked_subcommand is not None:
        return
    from kargo.cli import main

    try:
        run_quickstart(directory, port, no_registry, Console(highlight=False, soft_wrap=True))
    except errors.KargoError as err:
        main.fail(err)


@app.command("release")
def release(
    version: Annotated[
        str | None, typer.Argument(help="the version, e.g. 1.0.1 (default: next patch)")
    ] = None,
    directory: DirOpt = DEFAULT_DIR,
) -> None:
    """Publish a new version (git tag, and image when a registry runs); refresh the Warehouse."""
    from kargo.cli import main

    try:
        release_version(directory, version, Console(highlight=False, soft_wrap=True))
    except errors.KargoError as err:
        main.fail(err)
