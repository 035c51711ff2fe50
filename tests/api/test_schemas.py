"""The checked-in JSON schemas are exactly what the models generate."""

from __future__ import annotations

import json

from kargo.api import kinds, schemas


def test_checked_in_schemas_match_the_models():
    assert schemas.drift() == [], "run: python -m kargo.api.schemas --write"


def test_check_exits_1_on_drift_and_0_after_write(tmp_path, capsys):
    assert schemas.main(["--check", "--dir", str(tmp_path)]) == 1
    assert "missing" in capsys.readouterr().err
    assert schemas.main(["--write", "--dir", str(tmp_path)]) == 0
    assert schemas.main(["--check", "--dir", str(tmp_path)]) == 0
    (tmp_path / "stage.json").write_text("{}")
    (tmp_path / "widget.json").write_text("{}")
    assert schemas.main(["--check", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "stage.json: out of date" in err
    assert "widget.json: no kind of that name" in err


def test_schemas_use_the_names_users_write():
    warehouse = json.loads(schemas.render("Warehouse"))
    image = warehouse["$defs"]["ImageSubscription"]["properties"]
    assert "repoURL" in image
    assert image["discoveryLimit"]["default"] == 20
    assert image["discoveryLimit"]["maximum"] == 100
    assert "pattern" in image["repoURL"]
    assert warehouse["x-kargo"] == {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "namespaced": True,
        "plural": "warehouses",
    }
    assert {schemas.filename(k) for k in kinds.KINDS} == {
        p.name for p in schemas.DEFAULT_DIR.glob("*.json")
    }
