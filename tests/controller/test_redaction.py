"""No secret in a step message: credentials and secret() values are masked by the controller."""

from __future__ import annotations

from kargo.clock import ManualClock
from kargo.controller import manager as manager_mod
from kargo.credentials.interface import Credentials, StaticCredentials
from kargo.promotion import engine as engine_mod
from kargo.store.interface import ObjectKey
from tests.controller import objects
from tests.controller.teststeps import make_registry

CANARY = "canary-s3cr3t-value"
SECRET_CANARY = "another-canary-token"


async def test_credentials_and_secret_values_never_reach_status_messages(store, tmp_path):
    services = engine_mod.EngineServices(
        credentials=StaticCredentials({"https://git.example/repo": Credentials("bot", CANARY)})
    )
    _, reconciler = manager_mod.build_manager(
        store,
        clock=ManualClock(),
        registry=make_registry(),
        work_root=tmp_path / "work",
        services=services,
    )
    await store.create(objects.stage())
    await store.create(objects.freight("f1"))
    await store.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "tokens", "namespace": "demo"},
            "stringData": {"token": SECRET_CANARY},
        }
    )
    await store.create(
        objects.promotion(
            "test.01a.f1",
            [
                {
                    "uses": "leak",
                    "as": "push",
                    "config": {
                        "repoURL": "https://git.example/repo",
                        "echo": "${{ secret('tokens').token }}",
                    },
                }
            ],
        )
    )
    await reconciler.reconcile(ObjectKey("Promotion", "demo", "test.01a.f1"))
    status = (await store.get("Promotion", "demo", "test.01a.f1"))["status"]
    text = str(status)
    assert status["phase"] == "Errored"
    assert CANARY not in text
    assert SECRET_CANARY not in text
    assert status["message"] == (
        'step "push" (leak): push to https://***@git.example/repo failed; password ***; ***'
    )
    stage = await store.get("Stage", "demo", "test")
    assert CANARY not in str(stage)
