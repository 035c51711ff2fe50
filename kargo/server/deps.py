"""Per-app state and the FastAPI dependencies routes use (store, clock, the caller's identity).

`ServerState` is built by `kargo.server.app.create_app` and kept in `app.state.kargo`; nothing
here is global, so several apps (tests, benchmarks) can live in one process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from kargo import clock as clock_mod, errors
from kargo.git import mirror
from kargo.server import auth, settings as settings_mod
from kargo.store import interface


@dataclass
class ServerState:
    """What every request handler may need."""

    settings: settings_mod.Settings
    clock: clock_mod.Clock
    auth: auth.AuthState
    store_: interface.Store | None = None
    extra: dict[str, object] = field(default_factory=dict)
    # the controllers' git mirrors when they run in this process; previews fetch through them
    git_mirrors: mirror.MirrorCache | None = None

    @property
    def store(self) -> interface.Store:
        """The open store; UnavailableError before startup or after shutdown."""
        if self.store_ is None:
            raise errors.UnavailableError(
                "the store is not open; the server is starting or stopping"
            )
        return self.store_


def get_state(request: Request) -> ServerState:
    """The app's ServerState."""
    state = request.app.state.kargo
    assert isinstance(state, ServerState)
    return state


State = Annotated[ServerState, Depends(get_state)]


def require_actor(request: Request, state: State) -> str:
    """The authenticated caller (from `Authorization: Bearer <token>`); 401 otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise errors.UnauthenticatedError(
            "missing bearer token; log in with `kargo login SERVER --admin` or send "
            "`Authorization: Bearer <token>` from POST /v1beta1/login"
        )
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.UnauthenticatedError(
            "malformed Authorization header; expected `Authorization: Bearer <token>`"
        )
    return auth.verify_token(state.auth, token.strip(), state.clock.now())


Actor = Annotated[str, Depends(require_actor)]
