"""Read and delete routes for every kind: projects, per-project kinds, shared and system objects.

Routes are generated from the tables below (one `KindRoute` per URL segment) so that every kind
behaves the same: list with `?limit=&continue=&labelSelector=`, get by name, delete through
admission's `check_delete`, and `?watch=true[&resourceVersion=]` as Server-Sent Events
(`kargo.server.watch`). Freight is found by name or alias. Secrets are redacted.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import orjson
from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

import kargo
from kargo import errors
from kargo.api import admission, kinds
from kargo.server import deps, lookup as lookup_mod, redact, watch
from kargo.store import interface

ALIAS_LABEL = "kargo.akuity.io/alias"
CRED_TYPE_LABEL = "kargo.akuity.io/cred-type"
SHARED_NAMESPACE = "kargo-shared-resources"
CLUSTER_CONFIG_NAME = "cluster"
PREFIX = "/v1beta1"


@dataclass(frozen=True)
class KindRoute:
    """One collection URL segment and the store kind behind it."""

    segment: str
    kind: str
    selector: str | None = None  # a fixed label selector (credentials are Secrets with a label)
    by_alias: bool = False


PROJECT_ROUTES = (
    KindRoute("stages", "Stage"),
    KindRoute("warehouses", "Warehouse"),
    KindRoute("freight", "Freight", by_alias=True),
    KindRoute("promotions", "Promotion"),
    KindRoute("promotion-tasks", "PromotionTask"),
    KindRoute("analysis-templates", "AnalysisTemplate"),
    KindRoute("analysis-runs", "AnalysisRun"),
    KindRoute("configmaps", "ConfigMap"),
    KindRoute("repo-credentials", "Secret", selector=f"{CRED_TYPE_LABEL} in (git,helm,image)"),
    KindRoute("generic-credentials", "Secret", selector=f"{CRED_TYPE_LABEL}=generic"),
)
SHARED_NAMESPACED_ROUTES = (
    KindRoute("configmaps", "ConfigMap"),
    KindRoute("repo-credentials", "Secret", selector=f"{CRED_TYPE_LABEL} in (git,helm,image)"),
    KindRoute("generic-credentials", "Secret", selector=f"{CRED_TYPE_LABEL}=generic"),
)
SHARED_CLUSTER_ROUTES = (
    KindRoute("cluster-promotion-tasks", "ClusterPromotionTask"),
    KindRoute("cluster-analysis-templates", "ClusterAnalysisTemplate"),
)


class ListMeta(BaseModel):
    """Paging and consistency data of a list."""

    model_config = ConfigDict(populate_by_name=True)

    resource_version: str = Field(alias="resourceVersion")
    continue_: str | None = Field(default=None, alias="continue")
    remaining_item_count: int | None = Field(default=None, alias="remainingItemCount")


class ObjectList(BaseModel):
    """A Kubernetes-style list (`<Kind>List`)."""

    model_config = ConfigDict(populate_by_name=True)

    api_version: str = Field(alias="apiVersion")
    kind: str
    metadata: ListMeta
    items: list[dict[str, Any]]


class DeleteResult(BaseModel):
    """The outcome of a delete: gone, or marked for deletion until finalizers clear."""

    kind: str
    namespace: str | None = None
    name: str
    result: Literal["deleted", "deleting"]


class ServerVersion(BaseModel):
    """`GET /v1beta1/system/server-version`."""

    model_config = ConfigDict(populate_by_name=True)

    version: str
    api_version: str = Field(default="v1beta1", alias="apiVersion")


Limit = Annotated[int | None, Query(ge=1, le=1000, description="page size")]
Continue = Annotated[str | None, Query(alias="continue", description="token of the next page")]
LabelSelector = Annotated[str | None, Query(alias="labelSelector")]
Watch = Annotated[bool, Query(description="stream changes as Server-Sent Events")]
ResourceVersion = Annotated[
    str | None, Query(alias="resourceVersion", pattern=r"^[0-9]+$", description="watch after this")
]


def _api_version(kind: str) -> str:
    for info in kinds.KINDS.values():
        if info.kind == kind:
            return info.api_version
    return "v1"


def _selector(*parts: str | None) -> str | None:
    joined = ",".join(p for p in parts if p)
    return joined or None


def _ref(kind: str, namespace: str, name: str) -> str:
    return f"{kind} {namespace + '/' if namespace else ''}{name}"


async def _maybe(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


async def require_project(store: interface.Store, project: str) -> dict[str, Any]:
    """The Project object; NotFoundError naming the project when absent."""
    try:
        return await store.get("Project", "", project)
    except errors.NotFoundError:
        raise errors.NotFoundError(
            f"project {project!r} not found; list projects with `kargo get projects`"
        ) from None


def _json(model: BaseModel) -> Response:
    return JSONResponse(model.model_dump(by_alias=True, exclude_none=True))


async def list_objects(
    state: deps.ServerState,
    route: KindRoute,
    namespace: str | None,
    *,
    limit: int | None,
    continue_token: str | None,
    label_selector: str | None,
    watch_: bool,
    resource_version: str | None,
    project: str | None = None,
) -> Response:
    """List (or watch) one kind in one namespace (None = cluster-scoped / all).

    With `project`, a missing project is a 404; it is checked only when the page is empty (or
    before a watch), so the common case costs one store query.
    """
    options = interface.ListOptions(
        namespace=namespace,
        label_selector=_selector(route.selector, label_selector),
        limit=limit,
        continue_token=continue_token,
    )
    if watch_:
        if project:
            await require_project(state.store, project)
        return watch.sse_response(
            watch.stream_events(state.store, route.kind, options, resource_version)
        )
    page = await state.store.list(route.kind, options)
    if project and not page.items:
        await require_project(state.store, project)
    body = {
        "apiVersion": _api_version(route.kind),
        "kind": f"{route.kind}List",
        "metadata": {"resourceVersion": page.resource_version},
        "items": [redact.redact(item) for item in page.items],
    }
    meta: dict[str, Any] = body["metadata"]  # type: ignore[assignment]  # built just above
    if page.continue_token:
        meta["continue"] = page.continue_token
    if page.remaining is not None:
        meta["remainingItemCount"] = page.remaining
    # orjson: a 100-item page encodes several times faster than with the json module.
    return Response(orjson.dumps(body), media_type="application/json")


async def find_object(
    state: deps.ServerState, route: KindRoute, namespace: str, name: str
) -> dict[str, Any]:
    """One object by name (or by alias for Freight); NotFoundError otherwise."""
    store = state.store
    try:
        obj = await store.get(route.kind, namespace, name)
    except errors.NotFoundError:
        obj = None
    if obj is None and route.by_alias:
        page = await store.list(
            route.kind,
            interface.ListOptions(
                namespace=namespace, label_selector=f"{ALIAS_LABEL}={name}", limit=2
            ),
        )
        if page.items:
            obj = page.items[0]
    if obj is not None and route.selector and not _matches_fixed(route, obj):
        obj = None
    if obj is None:
        hint = " (by name or alias)" if route.by_alias else ""
        raise errors.NotFoundError(f"{_ref(route.kind, namespace, name)} not found{hint}")
    return obj


def _matches_fixed(route: KindRoute, obj: dict[str, Any]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    value = labels.get(CRED_TYPE_LABEL)
    if route.segment == "generic-credentials":
        return bool(value == "generic")
    return value in ("git", "helm", "image")


async def get_or_watch(
    state: deps.ServerState,
    route: KindRoute,
    namespace: str,
    name: str,
    *,
    watch_: bool,
    resource_version: str | None,
) -> Response:
    """Get one object, or watch it as SSE."""
    if watch_:
        obj = await find_object(state, route, namespace, name)
        real_name = str(obj["metadata"]["name"])
        options = interface.ListOptions(
            namespace=namespace or None, field_selector={"metadata.name": real_name}
        )
        return watch.sse_response(
            watch.stream_events(
                state.store,
                route.kind,
                options,
                resource_version,
                keep=lambda o: (o.get("metadata") or {}).get("name") == real_name,
            )
        )
    return JSONResponse(redact.redact(await find_object(state, route, namespace, name)))


async def delete_object(
    state: deps.ServerState, route: KindRoute, namespace: str, name: str
) -> Response:
    """Delete one object after admission's check (e.g. Freight in use cannot be deleted)."""
    obj = await find_object(state, route, namespace, name)
    real_name = str(obj["metadata"]["name"])
    await _maybe(admission.check_delete(obj, lookup_mod.StoreLookup(state.store)))
    remaining = await state.store.delete(route.kind, namespace, real_name)
    return _json(
        DeleteResult(
            kind=route.kind,
            namespace=namespace or None,
            name=real_name,
            result="deleting" if remaining is not None else "deleted",
        )
    )


def install(router: FastAPI) -> None:
    """Add every authenticated read/delete route (login and health live in `kargo.server.app`).

    Routes are added to the app itself (not an included router) so `app.routes` lists them all.
    """
    project_route = KindRoute("projects", "Project")

    @router.get(f"{PREFIX}/projects", response_model=ObjectList, tags=["projects"])
    async def list_projects(
        state: deps.State,
        _actor: deps.Actor,
        limit: Limit = None,
        continue_: Continue = None,
        label_selector: LabelSelector = None,
        watch_: Annotated[bool, Query(alias="watch")] = False,
        resource_version: ResourceVersion = None,
    ) -> Response:
        """List (or watch) Projects."""
        return await list_objects(
            state,
            project_route,
            None,
            limit=limit,
            continue_token=continue_,
            label_selector=label_selector,
            watch_=watch_,
            resource_version=resource_version,
        )

    @router.get("/v1beta1/projects/{project}", tags=["projects"])
    async def get_project(
        project: str,
        state: deps.State,
        _actor: deps.Actor,
        watch_: Annotated[bool, Query(alias="watch")] = False,
        resource_version: ResourceVersion = None,
    ) -> Response:
        """Get (or watch) one Project."""
        await require_project(state.store, project)
        return await get_or_watch(
            state, project_route, "", project, watch_=watch_, resource_version=resource_version
        )

    @router.delete("/v1beta1/projects/{project}", response_model=DeleteResult, tags=["projects"])
    async def delete_project(project: str, state: deps.State, _actor: deps.Actor) -> Response:
        """Delete a Project and everything in it."""
        await require_project(state.store, project)
        return await delete_object(state, project_route, "", project)

    config_route = KindRoute("config", "ProjectConfig")

    @router.get("/v1beta1/projects/{project}/config", tags=["projects"])
    async def get_project_config(
        project: str,
        state: deps.State,
        _actor: deps.Actor,
        watch_: Annotated[bool, Query(alias="watch")] = False,
        resource_version: ResourceVersion = None,
    ) -> Response:
        """Get (or watch) the ProjectConfig (named after its project)."""
        await require_project(state.store, project)
        return await get_or_watch(
            state, config_route, project, project, watch_=watch_, resource_version=resource_version
        )

    @router.delete(
        "/v1beta1/projects/{project}/config", response_model=DeleteResult, tags=["projects"]
    )
    async def delete_project_config(
        project: str, state: deps.State, _actor: deps.Actor
    ) -> Response:
        """Delete the ProjectConfig."""
        await require_project(state.store, project)
        return await delete_object(state, config_route, project, project)

    for route in PROJECT_ROUTES:
        _add_project_kind(router, route)
    for route in SHARED_NAMESPACED_ROUTES:
        _add_fixed_kind(router, route, "/shared", SHARED_NAMESPACE)
    for route in SHARED_CLUSTER_ROUTES:
        _add_fixed_kind(router, route, "/shared", "")

    cluster_config = KindRoute("cluster-config", "ClusterConfig")

    @router.get(f"{PREFIX}/system/cluster-config", tags=["system"])
    async def get_cluster_config(
        state: deps.State,
        _actor: deps.Actor,
        watch_: Annotated[bool, Query(alias="watch")] = False,
        resource_version: ResourceVersion = None,
    ) -> Response:
        """Get (or watch) the ClusterConfig singleton."""
        return await get_or_watch(
            state,
            cluster_config,
            "",
            CLUSTER_CONFIG_NAME,
            watch_=watch_,
            resource_version=resource_version,
        )

    @router.delete(f"{PREFIX}/system/cluster-config", response_model=DeleteResult, tags=["system"])
    async def delete_cluster_config(state: deps.State, _actor: deps.Actor) -> Response:
        """Delete the ClusterConfig singleton."""
        return await delete_object(state, cluster_config, "", CLUSTER_CONFIG_NAME)

    @router.get(f"{PREFIX}/system/server-version", response_model=ServerVersion, tags=["system"])
    async def server_version(_actor: deps.Actor) -> Response:
        """The server's version."""
        return _json(ServerVersion(version=kargo.__version__))


def _add_project_kind(router: FastAPI, route: KindRoute) -> None:
    tag = route.segment
    base = f"{PREFIX}/projects/{{project}}/{route.segment}"

    async def list_in_project(
        project: str,
        state: deps.State,
        _actor: deps.Actor,
        limit: Limit = None,
        continue_: Continue = None,
        label_selector: LabelSelector = None,
        watch_: Annotated[bool, Query(alias="watch")] = False,
        resource_version: ResourceVersion = None,
    ) -> Response:
        return await list_objects(
            state,
            route,
            project,
            limit=limit,
            continue_token=continue_,
            label_selector=label_selector,
            watch_=watch_,
            resource_version=resource_version,
            project=project,
        )

    async def get_in_project(
        project: str,
        name: str,
        state: deps.State,
        _actor: deps.Actor,
        watch_: Annotated[bool, Query(alias="watch")] = False,
        resource_version: ResourceVersion = None,
    ) -> Response:
        try:
            return await get_or_watch(
                state, route, project, name, watch_=watch_, resource_version=resource_version
            )
        except errors.NotFoundError:
            await require_project(state.store, project)
            raise

    async def delete_in_project(
        project: str, name: str, state: deps.State, _actor: deps.Actor
    ) -> Response:
        try:
            return await delete_object(state, route, project, name)
        except errors.NotFoundError:
            await require_project(state.store, project)
            raise

    what = f"{route.kind} ({route.segment})"
    _add_list_get_delete(
        router,
        base,
        tag,
        route.segment,
        (list_in_project, f"List {what} in a project"),
        (
            get_in_project,
            f"Get one {route.kind}" + (" by name or alias" if route.by_alias else ""),
        ),
        (delete_in_project, f"Delete one {route.kind}"),
    )


def _add_fixed_kind(router: FastAPI, route: KindRoute, prefix: str, namespace: str) -> None:
    base = f"{PREFIX}{prefix}/{route.segment}"
    ns_list = namespace or None

    async def list_fixed(
        state: deps.State,
        _actor: deps.Actor,
        limit: Limit = None,
        continue_: Continue = None,
        label_selector: LabelSelector = None,
        watch_: Annotated[bool, Query(alias="watch")] = False,
        resource_version: ResourceVersion = None,
    ) -> Response:
        return await list_objects(
            state,
            route,
            ns_list,
            limit=limit,
            continue_token=continue_,
            label_selector=label_selector,
            watch_=watch_,
            resource_version=resource_version,
        )

    async def get_fixed(
        name: str,
        state: deps.State,
        _actor: deps.Actor,
        watch_: Annotated[bool, Query(alias="watch")] = False,
        resource_version: ResourceVersion = None,
    ) -> Response:
        return await get_or_watch(
            state, route, namespace, name, watch_=watch_, resource_version=resource_version
        )

    async def delete_fixed(name: str, state: deps.State, _actor: deps.Actor) -> Response:
        return await delete_object(state, route, namespace, name)

    _add_list_get_delete(
        router,
        base,
        prefix.strip("/"),
        f"{prefix.strip('/')}_{route.segment}",
        (list_fixed, f"List shared {route.kind}"),
        (get_fixed, f"Get one shared {route.kind}"),
        (delete_fixed, f"Delete one shared {route.kind}"),
    )


_Endpoint = tuple[Callable[..., Awaitable[Response]], str]


def _add_list_get_delete(
    router: FastAPI,
    base: str,
    tag: str,
    key: str,
    list_: _Endpoint,
    get: _Endpoint,
    delete: _Endpoint,
) -> None:
    """Register a kind's list (`base`), get and delete (`base/{name}`) endpoints with summaries.

    Route names are `list_<key>`, `get_<key>` and `delete_<key>`, all under the one OpenAPI tag.
    """
    for path, (endpoint, summary), method, verb, model in (
        (base, list_, "GET", "list", ObjectList),
        (f"{base}/{{name}}", get, "GET", "get", None),
        (f"{base}/{{name}}", delete, "DELETE", "delete", DeleteResult),
    ):
        router.add_api_route(
            path,
            endpoint,
            methods=[method],
            response_model=model,
            tags=[tag],
            summary=summary,
            name=f"{verb}_{key}",
        )
