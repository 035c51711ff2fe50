"""json-update, json-parse, toml-update and toml-parse."""

from __future__ import annotations

import json
import tomllib

import pytest
from hypothesis import assume, given, settings, strategies as st

from kargo import errors
from kargo.promotion.steps import jsonfile
from tests.promotion.steps import helpers


@pytest.mark.parametrize(
    ("text", "key", "value", "expected"),
    [
        ('{"a": 1}', "a", 2, '{"a": 2}'),
        ('{"a": 1}', "b", "x", '{"a": 1, "b": "x"}'),
        ("{}", "a.b", True, '{"a": {"b": true}}'),
        ('{"l": [1,2]}', "l.0", 9, '{"l": [9,2]}'),
        ('{"l": [1,2]}', "l.-1", 3, '{"l": [1,2,3]}'),
        ('{"l": []}', "l.-1", {"k": 1}, '{"l": [{"k": 1}]}'),
        ('{"a": "s"}', "a.b", 1, '{"a": {"b": 1}}'),
        ('{"a.b": 1}', "a\\.b", 2, '{"a.b": 2}'),
        ('{"a": {"1": "x"}}', "a.1", "y", '{"a": {"1": "y"}}'),
        # sjson's README: an index past the end pads with nulls
        ('["A","C"]', "4", "S", '["A","C",null,null,"S"]'),
        ('{"l":["A","C"]}', "l.2", "S", '{"l":["A","C","S"]}'),
        ('{"l": [\n  1\n]}', "l.2", 3, '{"l": [\n  1,\n  null,\n  3\n]}'),
        ("{}", "a.2", "x", '{"a": [null, null, "x"]}'),
        ("{}", "a.0", "x", '{"a": ["x"]}'),
        ("{}", "a.-1", "x", '{"a": ["x"]}'),
        # a leading colon makes a number an object key
        ("{}", "a.:0", "x", '{"a": {"0": "x"}}'),
        ('{"ports": {}}', "ports.:8080.name", "http", '{"ports": {"8080": {"name": "http"}}}'),
        ('{"a": ["x"]}', "a.:0", "y", '{"a": ["y"]}'),  # an existing item is still found
        # escapes: `\.` and `\:` are literal, a colon inside a name is literal
        ('{"a.b": {"c:d": 1}}', "a\\.b.c:d", 2, '{"a.b": {"c:d": 2}}'),
        ("{}", "\\:0", 1, '{":0": 1}'),
        # a scalar in the way becomes the container the path needs
        ('{"a": "s"}', "a.1", "x", '{"a": [null, "x"]}'),
        # an empty document starts as an object (or an array for an index)
        ("", "a", 1, '{"a": 1}'),
        ("\n", "1", 1, "[null,1]\n"),
    ],
)
def test_json_values_are_set_like_sjson(text, key, value, expected):
    assert jsonfile.set_value(text, key, value) == expected


def test_json_edits_keep_the_rest_of_the_document_byte_for_byte():
    text = '{\n  "z": 1,   \n  "a": {"deep": [1, 2]},\n  "keep": "\\u00e9"\n}\n'
    out = jsonfile.set_value(text, "z", 2)
    assert out == text.replace('"z": 1', '"z": 2')
    assert json.loads(out)["keep"] == "é"


def test_a_name_where_an_array_index_belongs_is_terminal():
    with pytest.raises(errors.TerminalStepError, match="'x' is not an array index"):
        jsonfile.set_value('{"l": [1]}', "l.x", 2)
    with pytest.raises(errors.TerminalStepError, match="':1' forces an object key"):
        jsonfile.set_value('{"l": [1]}', "l.:1", 2)


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("a..b", "empty part"),
        ("a.", "ends with a dot"),
        ("a\\", "lone backslash"),
        ("l.20000", "far past the end"),
        ("new.20000", "would create an array"),
    ],
)
def test_json_keys_that_cannot_be_set_say_why(key, words):
    with pytest.raises(errors.TerminalStepError, match=words):
        jsonfile.set_value('{"l": []}', key, 1)


async def test_json_update_on_a_directory_says_so_and_writes_nothing(tmp_path):
    (tmp_path / "conf").mkdir()
    with pytest.raises(errors.TerminalStepError, match="'conf' is a directory"):
        await helpers.run_step(
            "json-update",
            {"path": "conf", "updates": [{"key": "a", "value": 1}]},
            helpers.make_ctx(tmp_path),
        )
    assert list((tmp_path / "conf").iterdir()) == []


async def test_json_update_of_a_file_that_is_not_utf8_is_terminal(tmp_path):
    (tmp_path / "c.json").write_bytes(b'{"a": "\xff"}')
    with pytest.raises(errors.TerminalStepError, match="not UTF-8"):
        await helpers.run_step(
            "json-update",
            {"path": "c.json", "updates": [{"key": "a", "value": 1}]},
            helpers.make_ctx(tmp_path),
        )


def test_invalid_json_reports_line_and_column():
    with pytest.raises(errors.TerminalStepError, match="line 2, column"):
        jsonfile.set_value('{"a": 1,\n  oops}', "a", 2)


async def test_json_update_writes_the_file_and_reports_a_commit_message(tmp_path):
    (tmp_path / "c.json").write_text('{"image": {"tag": "1"}}\n')
    result = await helpers.run_step(
        "json-update",
        {"path": "c.json", "updates": [{"key": "image.tag", "value": "2"}]},
        helpers.make_ctx(tmp_path),
    )
    assert (tmp_path / "c.json").read_text() == '{"image": {"tag": "2"}}\n'
    assert result.output == {"commitMessage": 'Updated c.json\n\n- image.tag: "2"'}


async def test_json_parse_extracts_outputs(tmp_path):
    (tmp_path / "p.json").write_text('{"version": "1.2.3", "items": [{"n": "a"}]}')
    result = await helpers.run_step(
        "json-parse",
        {
            "path": "p.json",
            "outputs": [
                {"name": "v", "fromExpression": "version"},
                {"name": "first", "fromExpression": "items[0].n"},
            ],
        },
        helpers.make_ctx(tmp_path),
    )
    assert result.output == {"v": "1.2.3", "first": "a"}


async def test_json_parse_of_invalid_json_is_terminal(tmp_path):
    (tmp_path / "p.json").write_text("{nope")
    with pytest.raises(errors.TerminalStepError, match="not valid JSON"):
        await helpers.run_step(
            "json-parse",
            {"path": "p.json", "outputs": [{"name": "v", "fromExpression": "a"}]},
            helpers.make_ctx(tmp_path),
        )


async def test_toml_update_keeps_comments_and_creates_tables(tmp_path):
    (tmp_path / "a.toml").write_text("# top\n[server]\nport = 80 # port\n")
    result = await helpers.run_step(
        "toml-update",
        {
            "path": "a.toml",
            "updates": [
                {"key": "server.port", "value": 8080},
                {"key": "db.url", "value": "postgres://db"},
            ],
        },
        helpers.make_ctx(tmp_path),
    )
    text = (tmp_path / "a.toml").read_text()
    assert text.startswith("# top\n[server]\nport = 8080 # port\n")
    assert '[db]\nurl = "postgres://db"' in text
    assert result.output["commitMessage"] == (
        'Updated a.toml\n\n- server.port: 8080\n- db.url: "postgres://db"'
    )


async def test_toml_update_refuses_null(tmp_path):
    (tmp_path / "a.toml").write_text("a = 1\n")
    with pytest.raises(errors.TerminalStepError, match="no null"):
        await helpers.run_step(
            "toml-update",
            {"path": "a.toml", "updates": [{"key": "b", "value": None}]},
            helpers.make_ctx(tmp_path),
        )


async def test_toml_update_through_a_value_turns_it_into_a_table_as_yaml_update_does(tmp_path):
    (tmp_path / "a.toml").write_text("a = 1\n")
    await helpers.run_step(
        "toml-update",
        {"path": "a.toml", "updates": [{"key": "a.b", "value": 1}]},
        helpers.make_ctx(tmp_path),
    )
    assert tomllib.loads((tmp_path / "a.toml").read_text()) == {"a": {"b": 1}}


async def test_toml_parse_extracts_outputs(tmp_path):
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "x"\nversion = "0.3.0"\n')
    result = await helpers.run_step(
        "toml-parse",
        {"path": "Cargo.toml", "outputs": [{"name": "v", "fromExpression": "package.version"}]},
        helpers.make_ctx(tmp_path),
    )
    assert result.output == {"v": "0.3.0"}


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
KEY_PART = st.text(alphabet="abcXYZ_-/", min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(
    doc=st.dictionaries(KEY_PART, JSON_VALUES, max_size=4),
    path=st.lists(KEY_PART, min_size=1, max_size=3),
    value=JSON_VALUES,
    indent=st.sampled_from([None, 2, 4]),
)
def test_json_set_value_agrees_with_a_dict_update(doc, path, value, indent):
    text = json.dumps(doc, indent=indent)
    expected = json.loads(text)
    node = expected
    for part in path[:-1]:
        assume(not isinstance(node.get(part), list))  # a name is no index: an error, tested above
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[path[-1]] = value
    assert json.loads(jsonfile.set_value(text, ".".join(path), value)) == expected


async def test_toml_steps_say_when_the_path_is_a_directory_or_not_utf8(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "latin1.toml").write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    ctx = helpers.make_ctx(tmp_path)
    update = {"updates": [{"key": "name", "value": "x"}]}
    with pytest.raises(
        errors.TerminalStepError, match="'conf' is a directory; give the path of a TOML file"
    ):
        await helpers.run_step("toml-update", {"path": "conf", **update}, ctx)
    with pytest.raises(
        errors.TerminalStepError, match="not UTF-8 text .* TOML files must be UTF-8"
    ):
        await helpers.run_step("toml-update", {"path": "latin1.toml", **update}, ctx)
    assert (tmp_path / "latin1.toml").read_bytes() == 'name = "caf\xe9"\n'.encode("latin-1")
