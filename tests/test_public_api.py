"""The package's top-level surface is small and deliberate; changing it is a visible decision."""

import kargo


def test_top_level_exports_are_pinned():
    assert sorted(kargo.__all__) == ["KargoError", "__version__"]
    for name in kargo.__all__:
        assert hasattr(kargo, name)
