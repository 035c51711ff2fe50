"""Image discovery: which tags of a repository a Warehouse `image` subscription selects.

Semantics follow Kargo (pkg/image, see kargo-model.md §3.2):
- Every strategy lists tags, then filters them: `ignoreTagsRegexes` first, then
  `allowTagsRegexes` (empty allows all). The deprecated `allowTags`/`ignoreTags` fail.
- SemVer (default): tags that parse (strictly with `strictSemvers`, the default) and satisfy
  `constraint`, sorted by version descending, ties by the tag string descending.
- Lexical: tags sorted as strings, descending.
- NewestBuild: metadata of **every** remaining tag (concurrently, bounded), sorted by build time
  descending, ties by tag descending.
- Digest: the single tag named by `constraint`; a missing tag gives no result.
- SemVer and Lexical walk the sorted tags, skip images that fail the platform filter and stop at
  `discoveryLimit`.

Cost: image metadata is cached by manifest digest (content-addressed, never stale), so a tag whose
digest one HEAD shows to be known costs nothing more; with `cacheByTag` the tag itself is cached
(no HEAD at all). The result is a list of DiscoveredImageReference dicts
`{tag, digest, annotations?, createdAt?}`, newest/best first.

Neighbours: `registry.RegistryClient` talks HTTP, `cache.MetadataCache` remembers,
`kargo.api.semver` orders versions.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from kargo import clock, errors
from kargo.api import semver
from kargo.discovery import cache as cache_mod, registry

ANNOTATION_CREATED = "org.opencontainers.image.created"
LABEL_BUILD_DATE = "org.label-schema.build-date"
STRATEGIES = ("SemVer", "Lexical", "NewestBuild", "Digest")
DEFAULT_LIMIT = 20
NEWEST_BUILD_CONCURRENCY = 32
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


def parse_created(value: object) -> datetime | None:
    """An RFC 3339 time (nanoseconds allowed) as an aware datetime, else None."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("z", "Z")
    m = re.match(r"^(.*T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$", text)
    if m is None:
        return None
    frac = (m.group(2) or "")[:7]
    tz = m.group(3) or "Z"
    try:
        parsed = datetime.fromisoformat(m.group(1) + frac + tz.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _fmt(value: datetime | None) -> str | None:
    return clock.format_time(value) if value is not None else None


def _annotation_time(annotations: dict[str, Any]) -> datetime | None:
    return parse_created(annotations.get(ANNOTATION_CREATED)) or parse_created(
        annotations.get(LABEL_BUILD_DATE)
    )


def _config_time(config: dict[str, Any]) -> datetime | None:
    times = [parse_created(config.get("created"))]
    inner = config.get("config")
    labels = inner.get("Labels") if isinstance(inner, dict) else None
    if isinstance(labels, dict):
        times += [parse_created(labels.get(ANNOTATION_CREATED))]
        times += [parse_created(labels.get(LABEL_BUILD_DATE))]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def _str_dict(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


class _Resolver:
    """Turns tags into metadata with as few requests as the caches allow, once per digest."""

    def __init__(
        self,
        client: registry.RegistryClient,
        cache: cache_mod.MetadataCache,
        ref: registry.ImageRef,
        cache_by_tag: bool,
    ) -> None:
        self.client = client
        self.cache = cache
        self.ref = ref
        self.cache_by_tag = cache_by_tag
        self._inflight: dict[str, asyncio.Task[dict[str, Any] | None]] = {}

    async def for_tag(self, tag: str) -> dict[str, Any] | None:
        """Metadata of the image a tag points at, or None when the tag is gone."""
        tag_key = f"{self.ref}:{tag}"
        if self.cache_by_tag:
            hit = await self.cache.get(cache_mod.BUCKET_TAG, tag_key)
            if hit is not None:
                return hit
        desc = await self.client.head_manifest(self.ref.repository, tag)
        if desc is None:
            manifest = await self.client.get_manifest(self.ref.repository, tag)
            if manifest is None:
                return None
            meta = await self._for_digest(manifest.digest, manifest)
        else:
            meta = await self._for_digest(desc.digest, None)
        if meta is not None and self.cache_by_tag:
            await self.cache.put(cache_mod.BUCKET_TAG, tag_key, meta)
        return meta

    async def _for_digest(
        self, digest: str, manifest: registry.Manifest | None
    ) -> dict[str, Any] | None:
        task = self._inflight.get(digest)
        if task is None:
            task = asyncio.ensure_future(self._resolve(digest, manifest))
            self._inflight[digest] = task
        return await asyncio.shield(task)

    async def _resolve(
        self, digest: str, manifest: registry.Manifest | None
    ) -> dict[str, Any] | None:
        hit = await self.cache.get(cache_mod.BUCKET_DIGEST, digest)
        if hit is not None:
            return hit
        if manifest is None:
            manifest = await self.client.get_manifest(self.ref.repository, digest)
            if manifest is None:
                return None
        meta = await self._describe(digest, manifest)
        if meta is not None:
            await self.cache.put(cache_mod.BUCKET_DIGEST, digest, meta)
        return meta

    async def _describe(self, digest: str, manifest: registry.Manifest) -> dict[str, Any] | None:
        body = manifest.body
        annotations = _str_dict(body.get("annotations"))
        media_type = manifest.media_type
        if media_type in registry.INDEX_TYPES or "manifests" in body:
            return await self._describe_index(digest, media_type, body, annotations)
        created = _annotation_time(annotations)
        if created is None:
            config = body.get("config")
            config_digest = config.get("digest") if isinstance(config, dict) else None
            if isinstance(config_digest, str) and config_digest:
                blob = await self.client.get_blob_json(self.ref.repository, config_digest)
                created = _config_time(blob)
        return {
            "digest": digest,
            "mediaType": media_type,
            "annotations": annotations,
            "createdAt": _fmt(created),
            "platforms": None,
        }

    async def _describe_index(
        self, digest: str, media_type: str, body: dict[str, Any], annotations: dict[str, str]
    ) -> dict[str, Any]:
        entries = body.get("manifests")
        wanted: list[dict[str, Any]] = []
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            plat = entry.get("platform")
            if not isinstance(plat, dict):
                continue
            os_, arch = str(plat.get("os") or ""), str(plat.get("architecture") or "")
            if os_ in ("", "unknown") or arch in ("", "unknown"):
                continue  # attestations and other non-images
            if not isinstance(entry.get("digest"), str):
                continue
            wanted.append(entry)
        children = await asyncio.gather(*(self._child(e) for e in wanted))
        platforms: list[dict[str, Any]] = []
        for entry, child in zip(wanted, children, strict=True):
            plat = entry["platform"]
            desc_annotations = _str_dict(entry.get("annotations"))
            child_annotations = child["annotations"] if child else {}
            created = _annotation_time(desc_annotations) or parse_created(
                child["createdAt"] if child else None
            )
            platforms.append(
                {
                    "os": str(plat.get("os") or ""),
                    "architecture": str(plat.get("architecture") or ""),
                    "variant": str(plat.get("variant") or ""),
                    "digest": entry["digest"],
                    "annotations": {**child_annotations, **desc_annotations},
                    "createdAt": _fmt(created),
                }
            )
        created = _annotation_time(annotations)
        if created is None:
            times = [parse_created(p["createdAt"]) for p in platforms]
            known = [t for t in times if t is not None]
            created = max(known) if known else None
        return {
            "digest": digest,
            "mediaType": media_type,
            "annotations": annotations,
            "createdAt": _fmt(created),
            "platforms": platforms,
        }

    async def _child(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        child_type = str(entry.get("mediaType") or "")
        if child_type in registry.INDEX_TYPES:
            return None  # nested indexes are not images
        meta = await self._for_digest(str(entry["digest"]), None)
        if meta is None or meta.get("platforms") is not None:
            return None
        return meta


def parse_platform(value: object) -> tuple[str, str, str] | None:
    """`os/arch[/variant]` as a tuple, None when unset. Raises DiscoveryError when malformed."""
    if value in (None, ""):
        return None
    parts = str(value).split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise errors.DiscoveryError(
            f"invalid platform {value!r}: expected os/arch or os/arch/variant, e.g. linux/amd64"
        )
    return parts[0], parts[1], parts[2] if len(parts) == 3 else ""


def _compile(patterns: object, field: str) -> list[re.Pattern[str]]:
    out: list[re.Pattern[str]] = []
    for p in patterns if isinstance(patterns, list) else []:
        try:
            out.append(re.compile(str(p)))
        except re.error as err:
            raise errors.DiscoveryError(
                f"invalid regular expression {p!r} in {field}: {err}"
            ) from None
    return out


def tag_filter(sub: dict[str, Any]) -> tuple[list[re.Pattern[str]], list[re.Pattern[str]]]:
    """Compile (allow, ignore) regexes; the deprecated fields are refused with a way forward."""
    if sub.get("allowTags"):
        raise errors.DiscoveryError(
            "allowTags is no longer supported (removed in Kargo v1.11); use allowTagsRegexes "
            "instead, e.g. allowTagsRegexes: ['^v1\\\\.']"
        )
    if sub.get("ignoreTags"):
        raise errors.DiscoveryError(
            "ignoreTags is no longer supported (removed in Kargo v1.11); use "
            "ignoreTagsRegexes instead, e.g. ignoreTagsRegexes: ['^latest$']"
        )
    return _compile(sub.get("allowTagsRegexes"), "allowTagsRegexes"), _compile(
        sub.get("ignoreTagsRegexes"), "ignoreTagsRegexes"
    )


def matches_tag(
    tag: str, allow: Sequence[re.Pattern[str]], ignore: Sequence[re.Pattern[str]]
) -> bool:
    """Ignore first, then allow (an empty allow list allows everything)."""
    if any(p.search(tag) for p in ignore):
        return False
    return not allow or any(p.search(tag) for p in allow)


def sort_semver_tags(tags: Iterable[str], constraint: str = "", strict: bool = True) -> list[str]:
    """Tags that parse and satisfy `constraint`, newest first; ties by the tag, descending."""
    try:
        parsed_constraint = semver.parse_constraint(constraint)
    except ValueError as err:
        raise errors.DiscoveryError(f"invalid constraint: {err}") from None
    versions: list[semver.Version] = []
    for tag in tags:
        try:
            v = semver.parse_version(tag, strict=strict)
        except ValueError:
            continue
        if parsed_constraint.check(v):
            versions.append(v)
    versions.sort(key=lambda v: v.original, reverse=True)
    versions.sort(reverse=True)  # stable: equal versions keep the original-string order
    return [v.original for v in versions]


def _platform_view(
    meta: dict[str, Any], platform: tuple[str, str, str] | None
) -> tuple[dict[str, str], str | None] | None:
    """(annotations, createdAt) of the image for this platform, None when it does not match."""
    annotations = dict(meta.get("annotations") or {})
    if platform is None:
        return annotations, meta.get("createdAt")
    for p in meta.get("platforms") or []:
        if (p["os"], p["architecture"], p["variant"]) == platform:
            created = meta.get("createdAt")
            if not _annotation_time(annotations):
                created = p.get("createdAt") or created
            return {**annotations, **(p.get("annotations") or {})}, created
    return None


def _reference(
    tag: str, meta: dict[str, Any], view: tuple[dict[str, str], str | None]
) -> dict[str, Any]:
    ref: dict[str, Any] = {"tag": tag, "digest": meta["digest"]}
    if view[0]:
        ref["annotations"] = view[0]
    if view[1]:
        ref["createdAt"] = view[1]
    return ref


async def _walk(
    resolver: _Resolver, tags: list[str], platform: tuple[str, str, str] | None, limit: int
) -> list[dict[str, Any]]:
    """Fetch metadata in sorted order (in windows of what is still needed) until the limit."""
    out: list[dict[str, Any]] = []
    pos = 0
    while len(out) < limit and pos < len(tags):
        window = tags[pos : pos + (limit - len(out))]
        pos += len(window)
        metas = await asyncio.gather(*(resolver.for_tag(t) for t in window))
        for tag, meta in zip(window, metas, strict=True):
            if meta is None or len(out) >= limit:
                continue
            view = _platform_view(meta, platform)
            if view is not None:
                out.append(_reference(tag, meta, view))
    return out


async def _newest_build(
    resolver: _Resolver, tags: list[str], platform: tuple[str, str, str] | None, limit: int
) -> list[dict[str, Any]]:
    sem = asyncio.Semaphore(NEWEST_BUILD_CONCURRENCY)

    async def one(tag: str) -> dict[str, Any] | None:
        async with sem:
            return await resolver.for_tag(tag)

    metas = await asyncio.gather(*(one(t) for t in tags))
    found: list[tuple[datetime, str, dict[str, Any]]] = []
    for tag, meta in zip(tags, metas, strict=True):
        if meta is None:
            continue
        view = _platform_view(meta, platform)
        if view is None:
            continue
        found.append((parse_created(view[1]) or _EPOCH, tag, _reference(tag, meta, view)))
    found.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [item[2] for item in found[:limit]]


CACHE_BY_TAG_POLICIES = ("Forbid", "Allow", "Require", "Force")


def effective_cache_by_tag(sub: dict[str, Any], policy: str = "Allow") -> bool:
    """Apply the controller's CACHE_BY_TAG_POLICY to a subscription's `cacheByTag`.

    Forbid: setting it is an error; Allow: as set; Require: it must be set; Force: always on.
    The Digest strategy follows a mutable tag and is never cached by tag."""
    wanted = bool(sub.get("cacheByTag"))
    if policy not in CACHE_BY_TAG_POLICIES:
        raise errors.DiscoveryError(
            f"unknown cache-by-tag policy {policy!r}; use one of {', '.join(CACHE_BY_TAG_POLICIES)}"
        )
    if policy == "Forbid" and wanted:
        raise errors.DiscoveryError(
            f"image subscription {sub.get('repoURL')}: cacheByTag is forbidden by the "
            "controller's cache-by-tag policy; remove cacheByTag"
        )
    if policy == "Require" and not wanted:
        raise errors.DiscoveryError(
            f"image subscription {sub.get('repoURL')}: the controller's cache-by-tag policy "
            "requires cacheByTag: true (use it only for immutable tags)"
        )
    on = wanted or policy == "Force"
    return on and sub.get("imageSelectionStrategy") != "Digest"


async def discover_images(
    sub: dict[str, Any],
    client: registry.RegistryClient,
    cache: cache_mod.MetadataCache,
    *,
    cache_by_tag_policy: str = "Allow",
) -> list[dict[str, Any]]:
    """DiscoveredImageReference dicts for an `image` subscription, newest/best first."""
    repo_url = str(sub.get("repoURL") or "")
    if not repo_url:
        raise errors.DiscoveryError("image subscription has no repoURL")
    ref = registry.parse_repo_url(repo_url)
    strategy = sub.get("imageSelectionStrategy") or "SemVer"
    if strategy not in STRATEGIES:
        raise errors.DiscoveryError(
            f"image subscription {repo_url}: unknown imageSelectionStrategy {strategy!r}; "
            f"use one of {', '.join(STRATEGIES)}"
        )
    limit = int(sub.get("discoveryLimit") or DEFAULT_LIMIT)
    platform = parse_platform(sub.get("platform"))
    allow, ignore = tag_filter(sub)
    constraint = str(sub.get("constraint") or "")
    cache_by_tag = effective_cache_by_tag(sub, cache_by_tag_policy)
    resolver = _Resolver(client, cache, ref, cache_by_tag)

    if strategy == "Digest":
        if not constraint:
            raise errors.DiscoveryError(
                f"image subscription {repo_url}: the Digest strategy needs constraint set to "
                "the mutable tag to follow, e.g. constraint: latest"
            )
        meta = await resolver.for_tag(constraint)
        if meta is None:
            return []
        view = _platform_view(meta, platform)
        return [] if view is None else [_reference(constraint, meta, view)]

    tags = [t for t in await client.list_tags(ref.repository) if matches_tag(t, allow, ignore)]
    if strategy == "SemVer":
        strict = sub.get("strictSemvers")
        ordered = sort_semver_tags(tags, constraint, True if strict is None else bool(strict))
        return await _walk(resolver, ordered, platform, limit)
    if strategy == "Lexical":
        return await _walk(resolver, sorted(tags, reverse=True), platform, limit)
    return await _newest_build(resolver, tags, platform, limit)
