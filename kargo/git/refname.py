"""Git's reference name rules (`git check-ref-format`), checked in-process.

Step configs (git-clone's `checkout[].branch`/`tag`, git-tag's `tag`) check names with
`error` when they are validated, so a bad name is refused with the rule it breaks before any
git command runs, instead of failing later inside git with an unhelpful message. The rules are
those of git's `check_refname_format` for a full name such as `refs/tags/<name>`.

Neighbours: `kargo.promotion.steps.git` (the config models), `kargo.git.worktree` (make_tag).
"""

from __future__ import annotations

_FORBIDDEN = {
    " ": "a space",
    "~": "'~'",
    "^": "'^'",
    ":": "':'",
    "?": "'?'",
    "*": "'*'",
    "[": "'['",
    "\\": "'\\'",
}


def _forbidden_char(name: str) -> str | None:
    for char in name:
        if char in _FORBIDDEN:
            return _FORBIDDEN[char]
        if ord(char) < 0x20 or ord(char) == 0x7F:
            return f"a control character ({ord(char):#04x})"
    return None


def problem(name: str) -> str | None:
    """Why `name` (a full ref such as `refs/tags/v1`) is not a valid git reference, or None."""
    char = _forbidden_char(name)
    if char is not None:
        return f"it contains {char}, which git never allows in a reference name"
    if name == "@":
        return "it is '@', which git reserves"
    if "@{" in name:
        return "it contains '@{', which git reserves for reflog syntax"
    if ".." in name:
        return "it contains '..'"
    if name.startswith("/") or name.endswith("/") or "//" in name:
        return "it starts or ends with '/' or contains '//'"
    if name.endswith("."):
        return "it ends with '.'"
    for component in name.split("/"):
        if component.startswith("."):
            return f"the part {component!r} starts with '.'"
        if component.endswith(".lock"):
            return f"the part {component!r} ends with '.lock'"
    return None


def error(kind: str, short: str) -> str | None:
    """What is wrong with `short` as a `kind` ("branch" or "tag") name, or None when git takes
    it (`git check-ref-format --branch <short>`, `git check-ref-format refs/tags/<short>`);
    the message names the value and the rule."""
    prefix = "refs/heads/" if kind == "branch" else "refs/tags/"
    why = problem(prefix + short) if short else "it is empty"
    if why is None and kind == "branch" and (short == "HEAD" or short.startswith("-")):
        why = "a branch cannot be named HEAD or start with '-'"
    if why is None:
        return None
    return (
        f"{short!r} is not a valid git {kind} name: {why} (see `git help check-ref-format`); "
        f"choose another {kind} name"
    )
