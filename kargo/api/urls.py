"""Canonical forms of git, image and chart repository URLs, exactly as Kargo's pkg/urls.

They decide whether two subscriptions, credentials or Freight artifacts name the same
repository, and they enter the Freight ID (`kargo.api.freight_id`), so they must match Kargo
byte for byte, including the quirks of Go's net/url, go-containerregistry's name parsing and
path.Join's cleaning.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from urllib.parse import unquote

_SCP_RE = re.compile(r"^((?:[\w-]+@)?[\w-]+(?:\.[\w-]+)*)(?::(.*))?$", re.ASCII | re.DOTALL)
_DEFAULT_REGISTRY = "index.docker.io"
_REPOSITORY_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-./")
_TAG_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_HEX = set("0123456789abcdefABCDEF")


def sanitize_url(url: str) -> str:
    """Remove non-printable runes anywhere and surrounding whitespace (Kargo's SanitizeURL)."""
    return "".join(ch for ch in url if _is_print(ch)).strip()


def _is_print(ch: str) -> bool:
    # Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and ASCII space.
    if ch == " ":
        return True
    return unicodedata.category(ch)[0] in "LMNPS"


def _sanitize(repo: str) -> str:
    """Kargo's image/chart sanitize: path-unescape, lowercase, trim, drop unusual whitespace."""
    with contextlib.suppress(ValueError):
        repo = _go_path_unescape(repo)
    repo = repo.lower().strip()
    return "".join(ch for ch in repo if not (ch.isspace() or ch in ("\ufeff", "\u200b", "\u00a0")))


def _go_path_unescape(text: str) -> str:
    """url.PathUnescape: `%XX` is decoded; a malformed escape is a ValueError."""
    i = text.find("%")
    while i >= 0:
        if len(text[i + 1 : i + 3]) != 2 or not set(text[i + 1 : i + 3]) <= _HEX:
            raise ValueError(f"invalid URL escape {text[i : i + 3]!r}")
        i = text.find("%", i + 3)
    return unquote(text)


class _URL:
    """The parts of Go's url.URL that NormalizeGit uses."""

    def __init__(self, text: str) -> None:
        """Parse like url.Parse for scheme://authority/path?query#fragment; ValueError on error."""
        scheme, sep, rest = text.partition("://")
        if not sep:
            raise ValueError("no scheme")
        self.scheme = scheme
        rest, _, self.fragment = rest.partition("#")
        if rest.endswith("?") and rest.count("?") == 1:
            self.force_query, self.query, rest = True, "", rest[:-1]
        else:
            self.force_query = False
            rest, _, self.query = rest.partition("?")
        slash = rest.find("/")
        authority, self.path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
        userinfo, at, host = authority.rpartition("@")
        self.userinfo = userinfo if at else ""
        self.host = host
        if not host.startswith("["):
            if "%" in host:
                raise ValueError("invalid host")
            _, colon, port = host.rpartition(":")
            if colon and port and not port.isdigit():
                raise ValueError("invalid port")
        if "%" in self.path:
            _go_path_unescape(self.path)

    def has_query_values(self) -> bool:
        """Go's len(url.Query()) > 0."""
        return any(part for part in self.query.split("&"))

    def __str__(self) -> str:
        out = f"{self.scheme}://"
        if self.userinfo:
            out += self.userinfo + "@"
        out += self.host + self.path
        if self.force_query or self.query:
            out += "?" + self.query
        if self.fragment:
            out += "#" + self.fragment
        return out


def _trim_git_path(path: str) -> str:
    return path.removesuffix("/").removesuffix(".git")


def normalize_git(repo: str) -> str:
    """Kargo's NormalizeGit: one canonical form for the https, ssh:// and scp forms of a repo."""
    orig = repo
    repo = sanitize_url(repo).lower()
    if repo.startswith(("http://", "https://", "ssh://")):
        try:
            url = _URL(repo)
        except ValueError:
            return orig
        if url.has_query_values():
            return orig  # query parameters are not permitted
        if url.scheme != "ssh":
            url.userinfo = ""  # credentials never survive normalization of http(s) URLs
        url.path = _trim_git_path(url.path)
        return str(url)
    match = _SCP_RE.match(repo)
    if match is None:
        return orig
    user_host, path = match.group(1), match.group(2) or ""
    rest, _, fragment = path.partition("#")
    first_segment = rest.split("/", 1)[0].split("?", 1)[0]
    if ":" in first_segment:
        if re.fullmatch(r"[a-z][a-z0-9+.-]*", first_segment.split(":", 1)[0]):
            return f"ssh://{user_host}"  # Go reads "x:y" as scheme x: there is no path
        return orig  # Go: "first path segment in URL cannot contain colon"
    if rest.endswith("?") and rest.count("?") == 1:
        rest, query, force = rest[:-1], "", True
    else:
        rest, _, query = rest.partition("?")
        force = False
    if "%" in rest:
        try:
            _go_path_unescape(rest)
        except ValueError:
            return orig
    trimmed = _trim_git_path(rest)
    if trimmed == "":
        return f"ssh://{user_host}"
    rendered = trimmed
    if force or query:
        rendered += "?" + query
    if fragment:
        rendered += "#" + fragment
    return f"ssh://{user_host}/{rendered}"


def _check_repository(repo: str) -> bool:
    return 2 <= len(repo) <= 255 and set(repo) <= _REPOSITORY_CHARS


def _check_registry(name: str) -> bool:
    """url.Parse("//" + name).Host == name."""
    if any(c in name for c in "/?#@ ") or "%" in name:
        return False
    if name.count(":") > 1 and not name.startswith("["):
        return False
    if ":" in name and not name.startswith("["):
        port = name.rsplit(":", 1)[1]
        if port and not port.isdigit():
            return False
    return True


def _parse_repository(name: str) -> tuple[str, str] | None:
    """go-containerregistry NewRepository (weak validation): (registry, repository) or None."""
    if not name:
        return None
    registry, repo = "", name
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first):
        registry, repo = first, rest
    if not _check_repository(repo) or not _check_registry(registry):
        return None
    if registry in ("", "docker.io"):
        registry = _DEFAULT_REGISTRY
    return registry, repo


def _parse_reference(ref: str) -> tuple[str, str] | None:
    """go-containerregistry ParseReference(WeakValidation) -> (registry, repository string)."""
    # As a tag reference.
    parts = ref.split(":")
    base, tag = ref, ""
    if len(parts) > 1 and "/" not in parts[-1]:
        base, tag = ":".join(parts[:-1]), parts[-1]
    tag_ok = tag == "" or (1 <= len(tag) <= 128 and set(tag) <= _TAG_CHARS)
    if (len(parts) <= 1 or "/" in parts[-1] or tag) and tag_ok:
        parsed = _parse_repository(base)
        if parsed is not None:
            return parsed
    # As a digest reference.
    pieces = ref.split("@")
    if len(pieces) == 2 and pieces[1].startswith("sha256:"):
        hexpart = pieces[1][len("sha256:") :]
        if len(hexpart) == 64 and set(hexpart) <= _HEX:
            base = pieces[0]
            as_tag = _parse_reference_tag_only(base)
            if as_tag is not None:
                return as_tag
            return _parse_repository(base)
    return None


def _parse_reference_tag_only(base: str) -> tuple[str, str] | None:
    parts = base.split(":")
    stripped, tag = base, ""
    if len(parts) > 1 and "/" not in parts[-1]:
        stripped, tag = ":".join(parts[:-1]), parts[-1]
        if not tag or not (len(tag) <= 128 and set(tag) <= _TAG_CHARS):
            return None
    return _parse_repository(stripped)


def normalize_image(repo_url: str) -> str:
    """Kargo's NormalizeImage: Docker Hub forms collapse to `nginx`, `acme/api`; others `reg/repo`."""
    orig = repo_url
    parsed = _parse_reference(_sanitize(repo_url))
    if parsed is None:
        return orig
    registry, repo = parsed
    if registry in (_DEFAULT_REGISTRY, "registry-1.docker.io"):
        if registry == _DEFAULT_REGISTRY and "/" not in repo:
            repo = "library/" + repo
        return repo.removeprefix("library/")
    return f"{registry}/{repo}"


def normalize_chart(repo_url: str) -> str:
    """Kargo's NormalizeChart: lowercase, drop `oci://`, then NormalizeImage."""
    return normalize_image(_sanitize(repo_url).removeprefix("oci://"))


def go_path_clean(path: str) -> str:
    """Go's path.Clean: collapse `//`, resolve `.` and `..`, drop a trailing `/`; empty is `.`."""
    if path == "":
        return "."
    rooted = path.startswith("/")
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    cleaned = "/".join(out)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def go_path_join(*elems: str) -> str:
    """Go's path.Join: join the non-empty elements with `/` and Clean; all empty -> ""."""
    nonempty = [e for e in elems if e]
    if not nonempty:
        return ""
    return go_path_clean("/".join(nonempty))
