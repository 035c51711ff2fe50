"""docs/api.md documents every route the app serves (a new route without docs fails here)."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.routing import APIRoute

from kargo.server import app as app_mod, settings as settings_mod

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_every_route_is_in_the_api_reference(tmp_path, auth_state):
    settings = settings_mod.Settings.from_env({}, data_dir=tmp_path, components="api")
    app = app_mod.create_app(settings, auth_state=auth_state)
    text = DOC.read_text()
    missing = []
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        base = route.path.removesuffix("/{name}")
        if not re.search(re.escape(base) + r"(?![\w-])", text):
            missing.append(f"{sorted(route.methods)} {route.path}")
    assert not missing, "undocumented routes in docs/api.md:\n" + "\n".join(missing)
