"""Sweeping work directories removes finished Promotions' dirs and never the git mirrors."""

from kargo.controller.manager import MIRRORS_DIR, sweep_work_dirs
from kargo.store import open_store


async def test_sweep_removes_stale_promotion_dirs_and_keeps_mirrors(tmp_path):
    store = await open_store(str(tmp_path / "kargo.db"))
    try:
        root = tmp_path / "work"
        stale = root / "demo" / "test.01abc.deadbee"
        stale.mkdir(parents=True)
        mirror = root / MIRRORS_DIR / "github.com-acme-gitops"
        mirror.mkdir(parents=True)
        (mirror / "HEAD").write_text("ref: refs/heads/main\n")
        removed = await sweep_work_dirs(store, root)
        assert removed == ["demo/test.01abc.deadbee"]
        assert not stale.exists()
        assert (mirror / "HEAD").exists()
    finally:
        await store.close()
