"""Any value yaml-update writes reads back as exactly that value, in YAML 1.1 and 1.2 readers."""

from __future__ import annotations

import yaml as pyyaml
from hypothesis import given, settings, strategies as st
from ruamel.yaml import YAML

from kargo.promotion import workdir

SCALARS = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
STYLES = ["a:\n  b: old  # c\n", "a:\n  b: 'old'\n", 'a:\n  b: "old"\n', "a: {b: old, c: 1}\n"]


@settings(max_examples=300, deadline=None)
@given(value=SCALARS, style=st.sampled_from(STYLES))
def test_a_spliced_value_reads_back_unchanged(value, style):
    out = workdir.edit_yaml(style, [workdir.YAMLEdit("a.b", ["a", "b"], value)])
    assert YAML(typ="safe", pure=True).load(out)["a"]["b"] == value
    assert pyyaml.safe_load(out)["a"]["b"] == value
    assert out.splitlines()[0] == style.splitlines()[0] or style.startswith("a: {")
    assert out.endswith("# c\n") == style.endswith("# c\n")


@settings(max_examples=200, deadline=None)
@given(
    # a NEW key: not `x`, which the document already has
    key=st.text(min_size=1, max_size=12).filter(lambda k: k.strip() == k and k != "x"),
    value=SCALARS,
)
def test_a_new_key_reads_back_unchanged(key, value):
    text = "a:\n  x: 1\n"
    out = workdir.edit_yaml(text, [workdir.YAMLEdit("a." + key, ["a", key], value)])
    assert YAML(typ="safe", pure=True).load(out)["a"][key] == value
    assert out.startswith(text)


PLAIN_ALPHABET = "aeflnosuxyzAEFLNOSTYZ0123456789._/+=~-:# "


@settings(max_examples=1500, deadline=None)
@given(value=st.text(alphabet=PLAIN_ALPHABET, min_size=1, max_size=12), in_flow=st.booleans())
def test_deciding_plainness_without_parsing_agrees_with_parsing(value, in_flow):
    assert workdir._plain_ok(value, in_flow) == workdir._plain_ok_parsed(value, in_flow)


def test_common_values_are_plain_and_ambiguous_ones_are_not():
    for value in ["1.27.1", "nginx", "v1.2.3-rc.1", "ghcr.io/acme/api", "sha256.ab", "1e3x"]:
        assert workdir._plain_ok(value, False) == workdir._plain_ok_parsed(value, False) is True
    for value in ["yes", "on", "1.0", "1e3", "0o17", "1_0", "null", "~", "=", "2001-12-14"]:
        assert workdir._plain_ok(value, False) == workdir._plain_ok_parsed(value, False) is False
