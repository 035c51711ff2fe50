"""Paths inside a promotion's work directory, and key paths inside the files there.

`ensure`/`remove` create and delete a Promotion's work directory (used by the engine; the
deletion itself happens in the background, `kargo.promotion.trash`).

Every file-editing step (kargo.promotion.steps.*: yaml, jsonfile, tomlfile, files, kustomize,
helm, git) turns a user-given path into a real one with `resolve`, which refuses anything that
would leave the work directory: absolute paths, `..` escapes, and symlinks that lead out.
`display` renders a path for messages relative to the work directory, so temporary
directories never leak into user-facing text; `check_parents` refuses, before anything is
written, a path under a file.

`split_key` parses the sjson-style dot paths used by yaml-update, json-update and toml-update
(`image.tag`, `containers.0.image`, `example\\.com/version`), following Kargo's
pkg/yaml/update.go escaping rules. It lives here, beside the path rules, so that step families
stay independent of each other. So do `load_yaml` and `detect_indentation`, the ruamel.yaml
round trip that keeps a file's comments, quoting, indentation, header and CRLF line endings.
"""

from __future__ import annotations

import errno
import functools
import importlib
import io
import json
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.resolver import VersionedResolver
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kargo import errors
from kargo.promotion import trash


def promotion_dir(work_root: Path, promo: dict[str, Any]) -> Path:
    """Where a Promotion's work directory lives: <root>/<namespace>/<name>."""
    meta = promo.get("metadata") or {}
    parts = [str(meta.get("namespace") or "_"), str(meta.get("name") or "_")]
    safe = [p.replace("/", "_").replace("\\", "_").lstrip(".") or "_" for p in parts]
    return Path(work_root).joinpath(*safe)


def ensure(work_root: Path, promo: dict[str, Any]) -> Path:
    """Create (if needed) and return a Promotion's work directory; it survives a restart."""
    path = promotion_dir(work_root, promo)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def remove(work_root: Path, promo: dict[str, Any]) -> bool:
    """Take a finished Promotion's work directory away, if it exists: at once into the work
    root's trash, which `kargo.promotion.trash.Collector` deletes in the background (True
    when it went there)."""
    return trash.move_to_trash(work_root, promotion_dir(work_root, promo))


GIT_METADATA = ".git"


def resolve(work_dir: Path, user_path: str) -> Path:
    """The absolute path of `user_path` inside `work_dir`, refusing escapes (and any path
    through a `.git`: what it says decides where git and git-clone write).

    The result is lexically normalised but its last component is not dereferenced, so a step
    that deletes a symlink deletes the link, not its target. Symlinks anywhere on the way,
    including the last component, must still resolve inside the work directory.
    """
    if user_path is None or str(user_path).strip() == "":
        raise errors.TerminalStepError("path is empty; give a path relative to the work directory")
    raw = str(user_path)
    if "\x00" in raw:
        raise errors.TerminalStepError(f"path {raw!r} contains a NUL byte")
    if os.path.isabs(raw) or PurePosixPath(raw).is_absolute():
        raise errors.TerminalStepError(
            f"path {raw!r} is absolute; paths are relative to the promotion's work directory "
            f"(for example ./src/values.yaml)"
        )
    normalised = os.path.normpath(raw)
    if normalised == ".." or normalised.startswith(".." + os.sep):
        raise errors.TerminalStepError(
            f"path {raw!r} leads outside the work directory; remove the '..' segments"
        )
    if GIT_METADATA in normalised.split(os.sep):
        raise errors.TerminalStepError(
            f"path {raw!r} is inside a checkout's {GIT_METADATA}, which holds git-clone's and "
            f"git's metadata (and names the directories git writes to): steps may not touch it"
        )
    root = _real_root(os.fspath(work_dir))
    if normalised == ".":
        return Path(root)
    candidate = os.path.join(root, normalised)
    real = _realpath_below(root, normalised)
    if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
        raise errors.TerminalStepError(
            f"path {raw!r} leads outside the work directory through a symbolic link; "
            f"symlinks in the work directory must point inside it"
        )
    return Path(candidate)


@functools.lru_cache(maxsize=1024)
def _real_root(work_dir: str) -> str:
    """The work directory's realpath, remembered: the engine makes it, and no step can turn it
    (or a directory above it) into a symlink; what users control lies below it."""
    return os.path.realpath(work_dir)


def _realpath_below(root: str, relative: str) -> str:
    """`os.path.realpath(root/relative)` for a real `root` and a normalised `relative`.

    Only the components below `root` are looked at (one lstat each); realpath would look at
    every component of the absolute path again. At the first symlink, realpath does the rest.
    """
    current = root
    parts = relative.split(os.sep)
    for i, name in enumerate(parts):
        path = os.path.join(current, name)
        try:
            mode = os.lstat(path).st_mode
        except OSError:  # missing (or under a file): realpath keeps the rest as written
            return os.path.join(path, *parts[i + 1 :])
        if stat.S_ISLNK(mode):
            return os.path.realpath(os.path.join(path, *parts[i + 1 :]))
        current = path
    return current


def is_inside(work_dir: Path, path: Path) -> bool:
    """Whether `path`, with every symlink followed, stays inside `work_dir`."""
    root = Path(os.path.realpath(work_dir))
    real = Path(os.path.realpath(path))
    return real == root or root in real.parents


def display(work_dir: Path, path: Path) -> str:
    """`path` relative to the work directory, for messages (never the temp dir itself)."""
    root = Path(os.path.realpath(work_dir))
    try:
        rel = Path(os.path.realpath(path.parent)) / path.name
        return rel.relative_to(root).as_posix() or "."
    except ValueError:
        try:
            return path.relative_to(work_dir).as_posix()
        except ValueError:
            return path.name


def describe(path: Path) -> str:
    """What is at `path`, for messages: a directory, a file or a symbolic link."""
    if path.is_symlink():
        return "a symbolic link"
    return "a directory" if path.is_dir() else "a file"


def check_parents(work_dir: Path, path: Path, user: str) -> None:
    """Refuse to write `path` (from `resolve`) when something on the way to it is not a
    directory, naming it; checked before a step writes anything, so that it fails cleanly
    instead of half-way."""
    root = Path(os.path.realpath(work_dir))
    for parent in reversed(path.parents):
        if root not in parent.parents:
            continue  # the work directory itself and what is above it
        if os.path.lexists(parent) and not parent.is_dir():
            raise errors.TerminalStepError(
                f"cannot write {user!r}: {display(work_dir, parent)!r} is {describe(parent)}, "
                f"not a directory; delete it in an earlier step or choose another path"
            )


def existing_file(work_dir: Path, user_path: str, kind: str) -> Path:
    """The file a step reads (`resolve`d), refusing a directory or a missing file with the
    path as the user wrote it; `kind` names the format ("YAML", "JSON") in the message."""
    file = resolve(work_dir, user_path)
    if file.is_dir():
        raise errors.TerminalStepError(
            f"path {user_path!r} is a directory; give the path of a {kind} file inside it"
        )
    if not file.is_file():
        raise errors.TerminalStepError(f"file {user_path!r} not found in the work directory")
    return file


def read_text(file: Path, user_path: str, kind: str) -> str:
    """A step's input file as UTF-8 text, newlines as they are (CRLF files stay CRLF), with
    clear errors for text that is not UTF-8 or a file that cannot be read."""
    try:
        with file.open(encoding="utf-8", newline="") as fh:
            return fh.read()
    except UnicodeDecodeError as err:
        raise errors.TerminalStepError(
            f"file {user_path!r} is not UTF-8 text (byte {err.start}); {kind} files must be "
            "UTF-8"
        ) from err
    except OSError as err:
        raise errors.TerminalStepError(f"cannot read {user_path!r}: {err.strerror}") from err


def replace_text(work_dir: Path, path: Path, text: str) -> None:
    """Write `text` to the existing or new file `path` all at once: to a temporary file, then
    renamed over it (keeping the old file's permissions).

    A step that dies half-way through an edit (a crash, a full disk) then leaves the old file,
    never a truncated one that a retried step would read, edit and commit. The temporary file
    is made beside the work directory, not in it, so that one left by a killed process is
    never committed from a checkout (beside `path` only if that is another file system).
    Newlines are written as they are in `text` (files keep their CRLF line endings). A symlink
    is written through, as an in-place write would (`resolve` has checked where it leads)."""
    if os.path.islink(path):  # directory links on the way are followed by the rename itself
        path = Path(os.path.realpath(path))
    try:
        mode: int | None = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None
    name = f".kargo-edit-{os.getpid()}-{secrets.token_hex(6)}.tmp"
    places = (work_dir.parent / name, path.with_name(name))
    for tmp in places:
        try:
            with tmp.open("w", encoding="utf-8", newline="") as fh:
                fh.write(text)
            if mode is not None:
                os.chmod(tmp, mode)
            os.replace(tmp, path)
            return
        except OSError as err:
            tmp.unlink(missing_ok=True)
            elsewhere = err.errno in (errno.EXDEV, errno.EACCES, errno.EPERM, errno.EROFS)
            if tmp is places[-1] or not elsewhere:
                raise
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def split_key(key: str) -> list[str]:
    """Split an sjson-style key path into its parts.

    Dots separate parts unless escaped with a backslash (`a\\.b` is one part `a.b`); `\\\\` is
    a literal backslash; a leading unescaped colon marks a numeric-looking part as an object
    key (Kargo drops it); any other escape is an error.
    """
    key = key.strip()
    if not key:
        raise errors.TerminalStepError("key is empty; give a dot-separated path such as image.tag")
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in key:
        if escaped:
            if char not in ".:\\":
                raise errors.TerminalStepError(
                    f"invalid escape sequence '\\{char}' in key {key!r}; "
                    f"only '\\.', '\\:' and '\\\\' are allowed"
                )
            current.append(char)
            escaped = False
            continue
        if char == "\\":
            escaped = True
        elif char == ".":
            if not current:
                raise errors.TerminalStepError(f"empty key part in key {key!r}")
            parts.append("".join(current))
            current = []
        elif char == ":":
            if current:
                raise errors.TerminalStepError(
                    f"unexpected colon in key {key!r}; escape it as '\\:' inside a key part"
                )
        else:
            current.append(char)
    if escaped:
        raise errors.TerminalStepError(f"key {key!r} ends with a lone backslash")
    if not current:
        raise errors.TerminalStepError(f"empty key part in key {key!r}")
    parts.append("".join(current))
    return parts


def parse_index(part: str) -> int | None:
    """A sequence index from a key part (`3`, `-1` to append, or legacy `[3]`), else None."""
    text = part[1:-1] if part.startswith("[") and part.endswith("]") else part
    try:
        index = int(text)
    except ValueError:
        return None
    if index < -1:
        raise errors.TerminalStepError(f"invalid negative index {index} in key part {part!r}")
    return index


# ---------------------------------------------------------------------------------------------
# YAML scalars: quoting and in-place splicing


# A plain scalar made only of these characters, starting with one of the first set, is scanned
# as exactly its text by every YAML 1.1 and 1.2 reader, in block and flow context: it holds no
# indicator (`:`, `#`, `,`, brackets, quotes, `&`, `*`, `!`, `|`, `>`, `%`, `@`, backquote),
# no space and no line break. What it then means (string, number, boolean, null, timestamp,
# `=`, `<<`) is decided by the readers' implicit resolvers alone, which `_plain_ok` asks.
_PLAIN_SAFE = re.compile(r"[A-Za-z0-9._/][A-Za-z0-9._/+=~-]*")
_STR_TAG = "tag:yaml.org,2002:str"
# first character -> [(tag, pattern)], as each reader's implicit resolver holds them
_Resolvers = dict[str | None, list[tuple[str, re.Pattern[str]]]]
_RESOLVERS_12: _Resolvers = dict(VersionedResolver().versioned_resolver)  # ruamel, YAML 1.2
_RESOLVERS_11: _Resolvers = dict(pyyaml.resolver.Resolver.yaml_implicit_resolvers)  # YAML 1.1


def _implicit_tag(resolvers: _Resolvers, value: str) -> str:
    """The tag a reader gives a plain scalar `value` (its `Resolver.resolve`, for scalars)."""
    for tag, pattern in resolvers.get(value[:1], []) + resolvers.get(None, []):
        if pattern.match(value):
            return str(tag)
    return _STR_TAG


def _plain_ok(value: str, in_flow: bool) -> bool:
    """Whether `value` can be written as a plain scalar and still read back as that string.

    Both YAML 1.2 (ruamel) and YAML 1.1 (PyYAML, as Kubernetes tooling reads it: `yes`, `on`,
    `0755`) must agree, so a value is never turned into a boolean or number by either.
    Common values (image tags, names, paths) are decided by the resolvers without parsing;
    anything else by loading a one-line document with both readers (remembered per value).
    """
    if _PLAIN_SAFE.fullmatch(value):
        return (
            _implicit_tag(_RESOLVERS_12, value) == _STR_TAG
            and _implicit_tag(_RESOLVERS_11, value) == _STR_TAG
        )
    return _plain_ok_parsed(value, in_flow)


@functools.lru_cache(maxsize=4096)
def _plain_ok_parsed(value: str, in_flow: bool) -> bool:
    """`_plain_ok` decided by parsing: both readers load `k: <value>` (and `k: [<value>]`)."""
    if value == "" or value != value.strip() or "\n" in value or "\r" in value:
        return False
    loader = YAML(typ="safe", pure=True)
    docs = [f"k: {value}\n"] + ([f"k: [{value}]\n"] if in_flow else [])
    try:
        for doc in docs:
            expected: dict[str, Any] = {"k": [value] if doc.startswith("k: [") else value}
            if loader.load(doc) != expected or pyyaml.safe_load(doc) != expected:
                return False
    except (YAMLError, pyyaml.YAMLError, ValueError):  # ValueError: ruamel on `._`
        return False
    return True


def _yaml_printable(char: str) -> bool:
    code = ord(char)
    if code in (0x85, 0x2028, 0x2029, 0xFEFF):  # line breaks to YAML 1.1; a BOM
        return False
    return (
        0x20 <= code <= 0x7E
        or 0xA0 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def _double_quoted(value: str) -> str:
    """A YAML double-quoted scalar: JSON's escapes, plus YAML's for what YAML cannot hold raw."""
    out = json.dumps(value, ensure_ascii=False)
    if all(_yaml_printable(c) for c in out):
        return out
    return "".join(
        c if _yaml_printable(c) else f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}"
        for c in out
    )


def quote_if_necessary(value: Any) -> str:
    """A value as Kargo writes it into commit messages: strings quoted only when they must be."""
    if isinstance(value, str):
        return value if _plain_ok(value, in_flow=False) else _double_quoted(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _render_scalar(value: Any, style: str | None, in_flow: bool) -> str:
    if isinstance(value, str):
        if style == "'" and all(_yaml_printable(c) for c in value):
            return "'" + value.replace("'", "''") + "'"
        if style == '"':
            return _double_quoted(value)
        return value if _plain_ok(value, in_flow) else _double_quoted(value)
    return quote_if_necessary(value)


_Loader: Any = getattr(pyyaml, "CSafeLoader", pyyaml.SafeLoader)


def compose_all(text: str) -> list[Node]:
    """The node trees of every document, with character positions (libyaml when available).

    Composing only (no construction) gives each node's start and end offsets in `text`; the
    C parser is about twenty times faster than a pure-Python one on large values files.
    """
    try:
        return [d for d in pyyaml.compose_all(text, Loader=_Loader) if d is not None]
    except pyyaml.YAMLError as err:
        raise errors.TerminalStepError(f"the file is not valid YAML: {err}") from err


# ---------------------------------------------------------------------------------------------
# safe loading: ruamel's YAML 1.2 safe loader, answered from libyaml's nodes when that is exact

_INT_12 = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_MAX_DEPTH = 64
_UNSURE_CHARS = "!&\t\x00\x85\u2028\u2029\ufeff"


class _Unsure(Exception):
    """The node tree holds something only ruamel's own loader may judge."""


def _construct(node: Node, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise _Unsure  # deep or recursive (an alias of an ancestor)
    if isinstance(node, ScalarNode):
        value = str(node.value)
        if node.style in ("'", '"'):  # quoted (libyaml says "" for plain): a string, untagged
            return value
        if node.style:
            raise _Unsure  # block scalars: libyaml reads some headers ruamel refuses (`|#`)
        tag = _implicit_tag(_RESOLVERS_12, value)
        if tag == _STR_TAG:
            return value
        if tag == "tag:yaml.org,2002:null":
            return None
        if tag == "tag:yaml.org,2002:bool":
            return value.lower() == "true"
        if tag == "tag:yaml.org,2002:int" and _INT_12.fullmatch(value):
            return int(value)
        raise _Unsure  # floats, timestamps, octal/hex ints, merge keys: ruamel decides
    if isinstance(node, SequenceNode):
        return [_construct(item, depth + 1) for item in node.value]
    if isinstance(node, MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _construct(key_node, depth + 1)
            if not isinstance(key_node, ScalarNode) or key in out:
                raise _Unsure  # a complex or duplicate key: ruamel raises its own error
            out[key] = _construct(value_node, depth + 1)
        return out
    raise _Unsure


def safe_load(text: str) -> Any:
    """`YAML(typ="safe", pure=True).load(text)`, the same value or the same error, faster.

    ruamel's pure-Python loader takes ~2 ms for a 12-line kustomization. A single document
    made of mappings, sequences, plain or quoted strings, decimal integers, booleans and nulls, without tags
    anchors, directives or tabs, is built here from libyaml's node tree with ruamel's YAML 1.2 resolution
    rules (so `yes` stays a string); anything else, including every error, is left to ruamel.
    """
    # tags, anchors, directives, tabs and unusual line breaks (where libyaml and ruamel differ
    # in what they accept) go to ruamel
    if not any(c in text for c in _UNSURE_CHARS) and not text.startswith("%") and "\n%" not in text:
        try:
            docs = pyyaml.compose_all(text, Loader=_Loader)
            first = next(docs, None)
            if first is not None and next(docs, None) is None:
                return _construct(first, 0)
        except (pyyaml.YAMLError, _Unsure, RecursionError):
            pass
    return YAML(typ="safe", pure=True).load(text)


class NeedsStructuralEdit(Exception):
    """The update adds, removes or replaces a collection; a text splice cannot express it."""


def _value_start(text: str, start: int, end: int) -> int:
    """Skip an anchor (`&a`) and tag (`!!str`) in front of a scalar's text."""
    while start < end and text[start] in "&!":
        while start < end and text[start] not in " \t\r\n":
            start += 1
        while start < end and text[start] in " \t\r\n":
            start += 1
    return start


def _locate(root: Node, key: str, parts: list[str], value: Any) -> tuple[ScalarNode, bool]:
    node = root
    in_flow = False
    for part in parts:
        if isinstance(node, MappingNode):
            in_flow = bool(node.flow_style)
            for key_node, value_node in node.value:
                if isinstance(key_node, ScalarNode) and key_node.value == part:
                    node = value_node
                    break
            else:
                raise NeedsStructuralEdit
        elif isinstance(node, SequenceNode):
            in_flow = bool(node.flow_style)
            index = parse_index(part)
            if index is None:
                raise errors.TerminalStepError(f"key {key!r}: {part!r} is not a sequence index")
            if index == -1 or index >= len(node.value):
                raise NeedsStructuralEdit
            node = node.value[index]
        else:
            raise NeedsStructuralEdit
    if not isinstance(node, ScalarNode) or node.style in ("|", ">"):
        raise NeedsStructuralEdit
    if isinstance(value, dict | list):
        raise NeedsStructuralEdit
    return node, in_flow


def splice_scalars(text: str, updates: list[tuple[str, list[str], Any]]) -> str:
    """`text` with the scalars at each (key, parts) replaced by a new value, byte-minimal.

    Only the replaced values' bytes change, so comments, quoting, indentation, anchors,
    document markers and CRLF survive. Raises NeedsStructuralEdit when an update would add a
    key or item, or replace a collection or block scalar.
    """
    docs = compose_all(text)
    if not docs:
        raise NeedsStructuralEdit
    edits: dict[int, tuple[int, str]] = {}
    for key, parts, value in updates:
        node, in_flow = _locate(docs[0], key, parts, value)
        end = node.end_mark.index
        start = _value_start(text, node.start_mark.index, end)
        edits[start] = (end, _render_scalar(value, node.style, in_flow))
    out = text
    for start in sorted(edits, reverse=True):
        end, rendered = edits[start]
        out = out[:start] + rendered + out[end:]
    return out


# ---------------------------------------------------------------------------------------------
# structural edits as text insertions: a new key or item is written next to its siblings with
# their indentation, so nothing else in the file moves


@dataclass(frozen=True)
class YAMLEdit:
    """Set (or, with delete, remove) the value at a key path."""

    key: str
    parts: list[str]
    value: Any = None
    delete: bool = False


def _first_doc(text: str) -> Node:
    docs = compose_all(text)
    if not docs:
        raise NeedsStructuralEdit
    return docs[0]


def _line_end(text: str, node: Node) -> int:
    """Where the line holding the end of `node` (its last leaf, for a collection) ends."""
    leaf = node
    while isinstance(leaf, MappingNode | SequenceNode) and leaf.value and not leaf.flow_style:
        leaf = leaf.value[-1][1] if isinstance(leaf, MappingNode) else leaf.value[-1]
    end = leaf.end_mark.index
    if end > 0 and text[end - 1] == "\n":
        return int(end)
    newline = text.find("\n", end)
    return len(text) if newline == -1 else newline + 1


def _dump_block(value: Any, indent: Indentation) -> str:
    yaml = YAML(typ="rt")
    yaml.width = 1 << 16
    yaml.indent(mapping=indent.mapping, sequence=indent.sequence, offset=indent.offset)
    buf = io.StringIO()
    yaml.dump(value, buf)
    return buf.getvalue()


def _key_text(key: str) -> str:
    return key if _plain_ok(key, in_flow=False) else _double_quoted(key)


def _entry_lines(key: str, value: Any, col: int, indent: Indentation) -> str:
    pad = " " * col
    if not isinstance(value, dict | list) or not value:
        rendered = (
            "{}" if value == {} else "[]" if value == [] else _render_scalar(value, None, False)
        )
        return f"{pad}{_key_text(key)}: {rendered}\n"
    body = _dump_block({key: value}, indent)
    return "".join(pad + line if line.strip() else line for line in body.splitlines(True))


def _item_lines(value: Any, col: int, indent: Indentation) -> str:
    pad = " " * col
    if not isinstance(value, dict | list) or not value:
        rendered = (
            "{}" if value == {} else "[]" if value == [] else _render_scalar(value, None, False)
        )
        return f"{pad}- {rendered}\n"
    body = _dump_block([value], indent)
    lines = [
        ln[indent.offset :] if ln.startswith(" " * indent.offset) else ln
        for ln in body.splitlines(True)
    ]
    return "".join(pad + line if line.strip() else line for line in lines)


def _nest(parts: list[str], value: Any) -> Any:
    for part in reversed(parts):
        value = {part: value}
    return value


def _insert(text: str, pos: int, lines: str) -> str:
    if pos > 0 and text[pos - 1] != "\n":
        lines = "\n" + lines
    if "\r\n" in text:
        lines = lines.replace("\r\n", "\n").replace("\n", "\r\n")
    return text[:pos] + lines + text[pos:]


def _apply_edit(text: str, edit: YAMLEdit, indent: Indentation, root: Node | None = None) -> str:
    node = root if root is not None else _first_doc(text)
    in_flow = False
    for i, part in enumerate(edit.parts):
        last = i == len(edit.parts) - 1
        if isinstance(node, MappingNode | SequenceNode):
            in_flow = bool(node.flow_style)
        if isinstance(node, MappingNode):
            found = next(
                ((k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == part),
                None,
            )
            if found is None:
                if edit.delete:
                    return text
                if node.flow_style or not node.value:
                    raise NeedsStructuralEdit
                col = node.value[0][0].start_mark.column
                lines = _entry_lines(part, _nest(edit.parts[i + 1 :], edit.value), col, indent)
                return _insert(text, _line_end(text, node), lines)
            if last and edit.delete:
                key_node, value_node = found
                if (
                    node.flow_style
                    or len(node.value) < 2
                    or not isinstance(value_node, ScalarNode)
                    or value_node.style in ("|", ">")
                    or value_node.end_mark.line != key_node.start_mark.line
                ):
                    raise NeedsStructuralEdit
                start = text.rfind("\n", 0, key_node.start_mark.index) + 1
                if text[start : key_node.start_mark.index].strip():
                    raise NeedsStructuralEdit  # the key shares its line (e.g. "- name: x")
                return text[:start] + text[_line_end(text, value_node) :]
            node = found[1]
        elif isinstance(node, SequenceNode):
            index = parse_index(part)
            if index is None:
                raise errors.TerminalStepError(
                    f"key {edit.key!r}: {part!r} is not a sequence index"
                )
            if index == -1 or index >= len(node.value):
                if edit.delete:
                    return text
                if node.flow_style or not node.value:
                    raise NeedsStructuralEdit
                lines = _item_lines(
                    _nest(edit.parts[i + 1 :], edit.value), node.start_mark.column, indent
                )
                return _insert(text, _line_end(text, node), lines)
            if last and edit.delete:
                raise NeedsStructuralEdit
            node = node.value[index]
        else:
            raise NeedsStructuralEdit
    if (
        not isinstance(node, ScalarNode)
        or node.style in ("|", ">")
        or isinstance(edit.value, dict | list)
    ):
        raise NeedsStructuralEdit
    start = _value_start(text, node.start_mark.index, node.end_mark.index)
    rendered = _render_scalar(edit.value, node.style, in_flow)
    return text[:start] + rendered + text[node.end_mark.index :]


def edit_yaml(text: str, edits: list[YAMLEdit]) -> str:
    """`text` with `edits` applied as text changes only where they happen.

    Existing scalars are replaced in place; new keys and sequence items are inserted after their
    last sibling with the siblings' indentation; a one-line key can be removed. Raises
    NeedsStructuralEdit for anything else (replacing a collection, editing flow collections or
    empty documents), for which callers fall back to `load_yaml`'s round trip.
    """
    root: Node | None = _first_doc(text)
    indent = detect_indentation(text, root=root)
    for edit in edits:
        text = _apply_edit(text, edit, indent, root)
        root = None  # the text changed: compose again
    return text


# ---------------------------------------------------------------------------------------------
# faithful YAML round trips (yaml-update's fallback, yaml-merge, kustomize-set-image)


@dataclass(frozen=True)
class Indentation:
    """ruamel's indent settings: mapping indent, sequence indent, dash offset."""

    mapping: int = 2
    sequence: int = 2
    offset: int = 0


def _seq_indent(key_node: Node, value_node: Node) -> tuple[int, int] | None:
    if not isinstance(value_node, SequenceNode) or value_node.flow_style or not value_node.value:
        return None
    col = key_node.start_mark.column
    item = value_node.value[0]
    content = item.start_mark.column
    if isinstance(item, MappingNode) and item.value:
        content = item.value[0][0].start_mark.column
    return (content - col, value_node.start_mark.column - col)


def detect_indentation(
    text: str, prefer: str | None = None, root: Node | None = None
) -> Indentation:
    """The first nested block mapping's and block sequence's indentation, as ruamel wants it.

    ruamel writes every sequence of a file one way; with `prefer`, the sequence under that
    top-level key (the one a step edits, e.g. a kustomization's `images`) sets the style.
    """
    if root is None:
        try:
            docs = compose_all(text)
        except errors.TerminalStepError:
            return Indentation()
        root = docs[0] if docs else None
    mapping: int | None = None
    seq: tuple[int, int] | None = None
    if prefer is not None and isinstance(root, MappingNode):
        for key_node, value_node in root.value:
            if isinstance(key_node, ScalarNode) and key_node.value == prefer:
                seq = _seq_indent(key_node, value_node)
    queue: list[Node] = [root] if root is not None else []
    while queue and (mapping is None or seq is None):
        node = queue.pop(0)
        if isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                col = key_node.start_mark.column
                if (
                    mapping is None
                    and isinstance(value_node, MappingNode)
                    and not value_node.flow_style
                    and value_node.value
                    and value_node.start_mark.line > key_node.start_mark.line
                ):
                    mapping = value_node.value[0][0].start_mark.column - col
                if seq is None:
                    seq = _seq_indent(key_node, value_node)
                queue.append(value_node)
        elif isinstance(node, SequenceNode):
            queue.extend(node.value)
    m = mapping if mapping and mapping > 0 else 2
    if seq is None or seq[0] <= seq[1]:
        return Indentation(mapping=m, sequence=max(m, 2), offset=0)
    return Indentation(mapping=m, sequence=seq[0], offset=seq[1])


@dataclass
class YAMLDocument:
    """A YAML file loaded for a round trip, with what ruamel would otherwise lose."""

    yaml: YAML
    docs: list[Any]
    header: str  # comments and a lone `---` line in front of the first document
    crlf: bool

    def dump(self) -> str:
        """The documents written back with the file's indentation, header and line endings."""
        buf = io.StringIO()
        if len(self.docs) == 1:
            if self.docs[0] is not None:
                self.yaml.dump(self.docs[0], buf)
        else:
            self.yaml.dump_all(self.docs, buf)
        out = self.header + buf.getvalue()
        return out.replace("\n", "\r\n") if self.crlf else out


def _split_header(src: str) -> tuple[str, str]:
    lines = src.splitlines(keepends=True)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped == "---" and src.count("\n---") + src.startswith("---") == 1:
            return "".join(lines[: i + 1]), "".join(lines[i + 1 :])
        break
    return "", src


def load_yaml(text: str, prefer: str | None = None) -> YAMLDocument:
    """Load `text` for a round trip that keeps comments, quotes, indentation and CRLF."""
    crlf = "\r\n" in text
    src = text.replace("\r\n", "\n") if crlf else text
    header, body = _split_header(src)
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 1 << 16
    ind = detect_indentation(body, prefer)
    yaml.indent(mapping=ind.mapping, sequence=ind.sequence, offset=ind.offset)
    meaningful = [ln for ln in body.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    yaml.explicit_start = bool(meaningful) and meaningful[0].startswith("---")
    docs = list(yaml.load_all(body)) or [None]
    return YAMLDocument(yaml=yaml, docs=docs, header=header, crlf=crlf)


# ---------------------------------------------------------------------------------------------
# *-parse outputs (yaml-parse, json-parse, toml-parse)


def evaluate_outputs(data: Any, outputs: list[tuple[str, str]], source: str) -> dict[str, Any]:
    """Evaluate each (name, raw expression) against the parsed file `data`.

    The parsed document is the expression environment (a top-level key `image` is the variable
    `image`); a document that is not a mapping is available as `value`.
    """
    # kargo.expressions is a peer package written alongside; imported when first needed
    lang: Any = importlib.import_module("kargo.expressions.lang")
    env = data if isinstance(data, dict) else {"value": data}
    result: dict[str, Any] = {}
    for name, expression in outputs:
        try:
            result[name] = lang.compile(expression).run(env)
        except errors.KargoError as err:
            raise errors.TerminalStepError(
                f"output {name!r}: error evaluating {expression!r} against {source!r}: "
                f"{err.message}"
            ) from err
    return result
