"""A canary secret value never appears in API responses, CLI output or the server's logs."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.fixtures.server import start_kargo_server
from tests.server.quickstart import CANARY_PAT, quickstart_yaml

pytestmark = pytest.mark.slow


def test_canary_secret_is_never_returned_printed_or_logged(tmp_path, kargo_cli):
    server = start_kargo_server(tmp_path, extra_args=("--log-level", "debug"))
    try:
        manifest = tmp_path / "quickstart.yaml"
        manifest.write_text(quickstart_yaml())
        kargo_cli.login(server.url)
        outputs = [kargo_cli.run("apply", "-f", str(manifest))]
        assert outputs[0].returncode == 0, outputs[0].stderr
        outputs.append(kargo_cli.run("apply", "-f", str(manifest)))
        for fmt in ("yaml", "json", "name"):
            for kind in ("projects", "stages", "warehouses", "promotiontasks"):
                outputs.append(kargo_cli.run("get", kind, "--project", "kargo-demo", "-o", fmt))
        token = re.search(
            r"bearerToken: (\S+)", (kargo_cli.home / ".config/kargo/config").read_text()
        )
        assert token
        headers = {"Authorization": f"Bearer {token.group(1)}"}
        spec = httpx.get(f"{server.url}/openapi.json").json()
        bodies = []
        with httpx.Client(base_url=server.url, headers=headers) as client:
            for path, ops in spec["paths"].items():
                if "get" not in ops:
                    continue
                url = path.replace("{project}", "kargo-demo").replace("{name}", "kargo-demo-repo")
                bodies.append(client.get(url).text)
            # A failing write that names the secret must not echo it either.
            bodies.append(client.post("/v1beta1/resources", content=quickstart_yaml()).text)
        assert any("kargo-demo-repo" in body for body in bodies)  # the Secret was listed...
        for body in bodies:
            assert CANARY_PAT not in body  # ...without its value
        for result in outputs:
            assert CANARY_PAT not in result.stdout + result.stderr
    finally:
        server.stop()
    logs = server.logs()
    assert "kargo-demo-repo" in logs or "PUT /v1beta1/resources" in logs  # debug logs were on
    assert CANARY_PAT not in logs
