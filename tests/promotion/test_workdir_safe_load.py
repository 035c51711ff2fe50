"""workdir.safe_load gives what ruamel's YAML 1.2 safe loader gives, or raises what it raises."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml as pyyaml
from hypothesis import given, settings, strategies as st
from ruamel.yaml import YAML

from kargo.promotion import workdir

SCALARS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["yes", "on", "0o17", "010", "1_0", "1.0", ".inf", "~", "2001-12-14", "1:20"]),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, width=32),
)
TREES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


def ruamel_load(text):
    try:
        return "value", YAML(typ="safe", pure=True).load(text)
    except Exception as err:
        return "error", type(err)


def ours(text):
    try:
        return "value", workdir.safe_load(text)
    except Exception as err:
        return "error", type(err)


def ruamel_dump(value):
    buf = io.StringIO()
    YAML(typ="safe", pure=True).dump(value, buf)
    return buf.getvalue()


@settings(max_examples=400, deadline=None)
@given(tree=TREES, flow=st.sampled_from([None, False, True]), writer=st.sampled_from(["py", "ru"]))
def test_any_written_document_loads_as_ruamel_loads_it(tree, flow, writer):
    text = (
        pyyaml.safe_dump({"k": tree}, default_flow_style=flow)
        if writer == "py"
        else ruamel_dump({"k": tree})
    )
    assert ours(text) == ruamel_load(text)


TRICKY = [
    "",
    "# only a comment\n",
    "a: 1\n---\nb: 2\n",
    "a: 1\na: 2\n",
    "1: a\ntrue: b\n",
    "a: &x {b: 1}\nc: *x\n",
    "base: &b {x: 1}\nd:\n  <<: *b\n",
    "a: !!str 0o17\n",
    "%YAML 1.1\n---\na: yes\n",
    "a: yes\nb: on\nc: 0o17\nd: 010\ne: 0x1F\nf: 1_000\ng: ~\nh:\ni: 2001-12-14\n",
    "a: [1, 2, {b: c}]\nb: 'it''s'\nc: \"x\\ty\"\nd: |\n  line\ne: >\n  folded\n  text\n",
    "a:\tb\n",
    "a: b: c\n",
    "? [a]\n: b\n",
    "a: '\n",
    "- a\n- b\n",
    "plain\n",
    "a: ._\n",
    "a: -0\nb: +5\nc: 00\n",
    # found by fuzzing: libyaml accepts these, ruamel does not (or reads them otherwise)
    "|#",
    "a: |#c\n  x\n",
    "&0:",
    "::\x85?",
    "a: b\u2028c\n",
]


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_documents_load_as_ruamel_loads_them(text):
    assert ours(text) == ruamel_load(text)


def test_golden_and_example_files_load_as_ruamel_loads_them():
    root = Path(__file__).resolve().parents[1]
    files = sorted(root.glob("golden/**/*.yaml"))[:200]
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert ours(text) == ruamel_load(text), path
