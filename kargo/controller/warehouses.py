"""WarehouseReconciler: discovers what a Warehouse's subscriptions offer and creates Freight.

Kargo's rules (kargo-model.md §3.1), with the skeleton of conventions §3:
1. Fetch the Warehouse; a deleted one needs nothing.
2. Decide whether to discover: no discovered artifacts yet, a new generation, a new refresh
   token (`kargo.akuity.io/refresh`), the interval elapsed, or the last attempt failed for a
   reason worth retrying. Otherwise requeue at `max(interval, min interval) - elapsed`.
3. Discover every subscription concurrently (`asyncio.gather`); a git subscription gets its
   previous result so an unchanged `git ls-remote` costs nothing more.
4. Validate: a subscription with no result sets Healthy/Ready False (NoCommitsDiscovered,
   NoImageReferencesDiscovered, NoChartVersionsDiscovered); no Freight, no error requeue.
5. Automatic policy: evaluate `freightCreationCriteria` (CriteriaEvaluationFailed on error),
   build Freight from element [0] of every result (`kargo.freight.builder`), admit it
   (`kargo.api.admission`: ID, alias) and create it; AlreadyExists sets FreightCreated=False.
   `status.lastFreightID` names it. Manual policy never creates Freight.
6. Classify: user errors (invalid subscription, credentials refused) are Stalled (Healthy and
   Ready False) and wait for the next interval or refresh; transient errors (a registry answering
   429/500, a git server that is down) set Ready=False with the message and raise, so the work
   queue retries with backoff.
7. Write status in `finally` with optimistic concurrency, only when it changed; a failed status
   write never masks the original error. Events on transitions only.

Neighbours: `kargo.discovery` (images, git, charts), `kargo.freight.builder`,
`kargo.api.admission`, `runtime.py` (queue, Result), `manager.py` (wiring).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from kargo import clock as clock_mod, errors
from kargo.api import admission, freight_id as freight_id_mod
from kargo.api.models import common
from kargo.controller import promotions, runtime
from kargo.credentials import database, interface as creds_mod, sealing
from kargo.discovery import cache as cache_mod, charts, git as git_discovery, images, registry
from kargo.expressions import functions as expr_functions, lang
from kargo.freight import builder
from kargo.git import mirror as mirror_mod
from kargo.store import interface, lookup as store_lookup

log = logging.getLogger(__name__)

REFRESH_ANNOTATION = "kargo.akuity.io/refresh"
ACTOR = "system:warehouse-controller"
DEFAULT_INTERVAL = timedelta(minutes=5)
MIN_REQUEUE = timedelta(milliseconds=100)
CONCURRENCY_ENV = "MAX_CONCURRENT_WAREHOUSE_RECONCILES"

# Condition types and reasons (Kargo's, plus DiscoveryFailed / InvalidSubscription of ours).
READY = "Ready"
HEALTHY = "Healthy"
FREIGHT_CREATED = "FreightCreated"
REASON_DISCOVERED = "ArtifactsDiscovered"
REASON_DISCOVERY_FAILED = "DiscoveryFailed"
REASON_INVALID = "InvalidSubscription"
REASON_NO_COMMITS = "NoCommitsDiscovered"
REASON_NO_IMAGES = "NoImageReferencesDiscovered"
REASON_NO_CHARTS = "NoChartVersionsDiscovered"
REASON_CRITERIA_FAILED = "CriteriaEvaluationFailed"
REASON_CRITERIA_NOT_MET = "CriteriaNotSatisfied"
REASON_ALREADY_EXISTS = "AlreadyExists"
REASON_CREATED = "FreightCreated"
REASON_CREATION_FAILED = "FreightCreationFailed"
REASON_MANUAL = "ManualPolicy"
# A Ready=False with one of these reasons means "try again": the next reconcile rediscovers
# (a backoff retry, or a wake-up because credentials changed).
RETRY_REASONS = frozenset({REASON_DISCOVERY_FAILED, REASON_CREATION_FAILED, REASON_INVALID})

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


@dataclass(frozen=True)
class WarehouseConfig:
    """Server-wide settings of discovery (Kargo's controller environment variables)."""

    min_interval: timedelta = timedelta(0)  # MIN_WAREHOUSE_RECONCILIATION_INTERVAL
    plain_http_registries: frozenset[str] = frozenset()
    registry_rate_limit: float = 20.0  # requests per second per registry host
    registry_timeout: float = 30.0
    registry_max_attempts: int = 4
    registry_backoff_base: float = 0.2
    concurrency: int = runtime.DEFAULT_CONCURRENCY

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> WarehouseConfig:
        """KARGO_MIN_WAREHOUSE_INTERVAL (a Go duration), KARGO_PLAIN_HTTP_REGISTRIES
        (comma-separated hosts), KARGO_REGISTRY_RATE_LIMIT (req/s) and
        MAX_CONCURRENT_WAREHOUSE_RECONCILES; invalid values are refused with a fix."""
        source = dict(os.environ) if env is None else env
        values: dict[str, Any] = {}
        raw = source.get("KARGO_MIN_WAREHOUSE_INTERVAL", "")
        if raw:
            try:
                values["min_interval"] = common.parse_duration(raw)
            except ValueError:
                raise errors.ValidationError(
                    f"KARGO_MIN_WAREHOUSE_INTERVAL={raw!r} is not a duration; use e.g. 5m0s"
                ) from None
        hosts = source.get("KARGO_PLAIN_HTTP_REGISTRIES", "")
        if hosts:
            values["plain_http_registries"] = frozenset(
                h.strip() for h in hosts.split(",") if h.strip()
            )
        for var, key, kind in (
            ("KARGO_REGISTRY_RATE_LIMIT", "registry_rate_limit", float),
            (CONCURRENCY_ENV, "concurrency", int),
        ):
            text = source.get(var, "")
            if not text:
                continue
            try:
                number = kind(text)
            except ValueError:
                number = 0
            if number <= 0:
                raise errors.ValidationError(f"{var}={text!r} must be a positive number")
            values[key] = number
        return cls(**values)


# --- helpers -----------------------------------------------------------------------------


class _UserError(errors.KargoError):
    """A problem only the Warehouse's author can fix (Stalled, no backoff)."""

    reason = REASON_INVALID


# The admission Lookup over the store (kept here under its old name for callers).
StoreLookup = store_lookup.StoreLookup


def effective_interval(warehouse: interface.Object, minimum: timedelta) -> timedelta:
    """max(spec.interval (default 5m), the server's minimum)."""
    raw = str((warehouse.get("spec") or {}).get("interval") or "")
    try:
        interval = common.parse_duration(raw) if raw else DEFAULT_INTERVAL
    except ValueError:
        interval = DEFAULT_INTERVAL
    return max(interval, minimum)


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return clock_mod.parse_time(value)
    except ValueError:
        return None


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


class _Conditions:
    """The conditions of one status being prepared, for one generation at one time."""

    def __init__(self, status: dict[str, Any], generation: int, now: datetime) -> None:
        self.status = status
        self.generation = generation
        self.now = now

    def set(self, kind: str, state: bool, reason: str, message: str) -> None:
        """Set one condition; lastTransitionTime moves only when the status flips."""
        conditions = [dict(c) for c in self.status.get("conditions") or []]
        value = "True" if state else "False"
        previous = next((c for c in conditions if c.get("type") == kind), None)
        changed_at = clock_mod.format_time(self.now)
        if previous is not None and previous.get("status") == value:
            changed_at = str(previous.get("lastTransitionTime") or changed_at)
        new = {
            "type": kind,
            "status": value,
            "reason": reason,
            "message": message,
            "observedGeneration": self.generation,
            "lastTransitionTime": changed_at,
        }
        conditions = [c for c in conditions if c.get("type") != kind] + [new]
        self.status["conditions"] = sorted(conditions, key=lambda c: str(c.get("type")))

    def unhealthy(self, reason: str, message: str) -> None:
        """Healthy and Ready False with the same reason and message."""
        self.set(HEALTHY, False, reason, message)
        self.set(READY, False, reason, message)

    def remove(self, kind: str) -> None:
        """Drop a condition that no longer applies."""
        conditions = [c for c in self.status.get("conditions") or [] if c.get("type") != kind]
        if conditions:
            self.status["conditions"] = conditions
        else:
            self.status.pop("conditions", None)


def parse_bool(value: Any, what: str) -> bool:
    """A criteria result as a bool: a bool, or text Go's strconv.ParseBool accepts."""
    if isinstance(value, bool):
        return value
    text = str(value)
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise errors.ExpressionError(
        f"{what} returned {text!r}, not a boolean; make the expression return true or false"
    )


def evaluate_criteria(expression: str, discovered: dict[str, Any]) -> bool:
    """`freightCreationCriteria.expression` over the discovered artifacts (element [0])."""
    if not expression.strip():
        return True
    if not any(discovered.get(k) for k in ("git", "images", "charts")):
        return True
    env = expr_functions.criteria_functions(discovered)
    value = lang.compile(expression).run(env)
    return parse_bool(value, "freightCreationCriteria.expression")


def subscription_type(sub: dict[str, Any]) -> str:
    """git, image, chart, or the generic type key of a subscription item."""
    for key in ("git", "image", "chart"):
        if isinstance(sub.get(key), dict):
            return key
    return next((str(k) for k in sub if k != "name"), "")


# --- the reconciler ----------------------------------------------------------------------


@dataclass
class _Outcome:
    """What one pass decided, for events and the requeue."""

    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)


class WarehouseReconciler:
    """Reconciles Warehouses: discovery, then (Automatic policy) Freight creation."""

    def __init__(
        self,
        store: interface.Store,
        clock: clock_mod.Clock,
        *,
        credentials: creds_mod.CredentialsProvider | None = None,
        mirrors: mirror_mod.MirrorCache,
        cache: cache_mod.MetadataCache | None = None,
        config: WarehouseConfig | None = None,
        events: promotions.EventRecorder | None = None,
        registry_sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.credentials: creds_mod.CredentialsProvider = credentials or creds_mod.NoCredentials()
        self.mirrors = mirrors
        self.cache: cache_mod.MetadataCache = cache or cache_mod.StoreMetadataCache(store)
        self.config = config or WarehouseConfig()
        self.events: promotions.EventRecorder = events or promotions.LogEvents()
        self._registry_sleep = registry_sleep or clock.sleep
        self.discoveries = 0  # how many times discovery ran (tests, metrics)
        self._ssl_contexts: dict[bool, ssl.SSLContext] = {}

    # 1. fetch; 2. prepare status; 3. deletion / skip; 4. discover + freight; 5. classify;
    # 6. write status when changed; 7. events on transitions.
    async def reconcile(self, key: interface.ObjectKey) -> runtime.Result:
        """Bring one Warehouse's discovered artifacts and Freight up to date."""
        # Fetch: a Warehouse that is gone needs nothing.
        try:
            warehouse = await self.store.get("Warehouse", key.namespace, key.name)
        except errors.NotFoundError:
            return runtime.Result()
        meta = warehouse.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            return runtime.Result()
        old_status: dict[str, Any] = copy.deepcopy(warehouse.get("status") or {})
        status = copy.deepcopy(old_status)
        now = self.clock.now()
        interval = effective_interval(warehouse, self.config.min_interval)
        generation = int(meta.get("generation") or 1)
        token = str((meta.get("annotations") or {}).get(REFRESH_ANNOTATION) or "")

        if not self.should_discover(warehouse, now, interval):
            return runtime.Result(self._requeue_after(status, now, interval))

        outcome = _Outcome()
        cond = _Conditions(status, generation, now)
        failure: BaseException | None = None
        stalled = False
        try:
            await self._sync(warehouse, cond, outcome, now)
        except Exception as err:
            if _is_user_error(err):
                stalled = True
                cond.unhealthy(REASON_INVALID, _describe(err))
                cond.remove(FREIGHT_CREATED)
            else:
                failure = err
                reason = REASON_CREATION_FAILED
                if not isinstance(err, _FreightError):
                    reason = REASON_DISCOVERY_FAILED
                cond.unhealthy(reason, _describe(err))
        finally:
            status["observedGeneration"] = generation
            if token:
                status["lastHandledRefresh"] = token
            await self._write_status(warehouse, old_status, status, failure)
        await self._emit(warehouse, old_status, status, outcome)
        if failure is not None:
            raise failure  # transient: the queue retries with backoff
        if stalled:
            return runtime.Result(interval)  # only the user can fix it: next interval or refresh
        # discovery ran at `now`: the next one is due an interval later
        return runtime.Result(max(MIN_REQUEUE, interval - (self.clock.now() - now)))

    def should_discover(
        self, warehouse: interface.Object, now: datetime, interval: timedelta
    ) -> bool:
        """Kargo's discovery triggers, plus a retry after a transient failure."""
        meta = warehouse.get("metadata") or {}
        status = warehouse.get("status") or {}
        discovered = status.get("discoveredArtifacts") or {}
        discovered_at = _parse_time(discovered.get("discoveredAt"))
        token = str((meta.get("annotations") or {}).get(REFRESH_ANNOTATION) or "")
        ready = _condition(status, READY) or {}
        return (
            not discovered
            or discovered_at is None
            or int(meta.get("generation") or 1) != int(status.get("observedGeneration") or 0)
            or (bool(token) and token != status.get("lastHandledRefresh"))
            or (ready.get("status") == "False" and ready.get("reason") in RETRY_REASONS)
            or now >= discovered_at + interval
        )

    def _requeue_after(
        self, status: dict[str, Any], now: datetime, interval: timedelta
    ) -> timedelta:
        discovered_at = _parse_time((status.get("discoveredArtifacts") or {}).get("discoveredAt"))
        if discovered_at is None:
            return interval
        return max(MIN_REQUEUE, interval - (now - discovered_at))

    # --- the domain work -----------------------------------------------------------------

    async def _sync(
        self, warehouse: interface.Object, cond: _Conditions, outcome: _Outcome, now: datetime
    ) -> None:
        namespace = str(warehouse["metadata"]["namespace"])
        name = str(warehouse["metadata"]["name"])
        spec = warehouse.get("spec") or {}
        status = cond.status
        same_generation = int(status.get("observedGeneration") or 0) == cond.generation
        previous = status.get("discoveredArtifacts") or {}
        discovered = await self.discover(namespace, spec, previous if same_generation else {}, now)
        self.discoveries += 1
        status["discoveredArtifacts"] = discovered

        # Validate: every subscription must have found something.
        empty = self._first_empty(discovered)
        if empty is not None:
            cond.unhealthy(*empty)
            return
        cond.set(HEALTHY, True, REASON_DISCOVERED, "every subscription discovered artifacts")
        summary = self._summary(discovered)
        if (spec.get("freightCreationPolicy") or "Automatic") == "Manual":
            cond.remove(FREIGHT_CREATED)
            cond.set(READY, True, REASON_MANUAL, f"{summary}; Manual policy: assemble Freight")
            return

        # Criteria: an expression over the discovered artifacts must hold.
        expression = str((spec.get("freightCreationCriteria") or {}).get("expression") or "")
        try:
            satisfied = evaluate_criteria(expression, discovered)
        except errors.KargoError as err:
            message = f"error evaluating freightCreationCriteria: {err.message}"
            cond.unhealthy(REASON_CRITERIA_FAILED, message)
            return
        if not satisfied:
            message = "freightCreationCriteria is not satisfied by the latest artifacts"
            cond.set(FREIGHT_CREATED, False, REASON_CRITERIA_NOT_MET, message)
            cond.set(READY, True, REASON_CRITERIA_NOT_MET, f"{summary}; {message}")
            return

        # Freight from element [0] of every result.
        freight = builder.build_freight(
            namespace, name, discovered, discovered_at=clock_mod.format_time(now)
        )
        freight_name, created = await self.create_freight(freight, now)
        status["lastFreightID"] = freight_name
        if created:
            message = f"created Freight {freight_name}"
            cond.set(FREIGHT_CREATED, True, REASON_CREATED, message)
            outcome.events.append(("Normal", REASON_CREATED, message))
        else:
            message = f"Freight {freight_name} for the latest artifacts already exists"
            cond.set(FREIGHT_CREATED, False, REASON_ALREADY_EXISTS, message)
        cond.set(READY, True, REASON_DISCOVERED, f"{summary}; latest Freight {freight_name}")

    async def create_freight(self, freight: dict[str, Any], now: datetime) -> tuple[str, bool]:
        """Admit and create Freight; (name, False) when it already exists."""
        namespace = str(freight["metadata"]["namespace"])
        wanted = freight_id_mod.freight_id(freight)
        try:
            await self.store.get("Freight", namespace, wanted)
            return wanted, False  # skip admission (alias generation lists every Freight)
        except errors.NotFoundError:
            pass
        try:
            admitted = await admission.admit_create(
                freight, StoreLookup(self.store), actor=ACTOR, now=now
            )
            stored = await self.store.create(admitted)
        except errors.AlreadyExistsError:
            return wanted, False
        except errors.ValidationError:
            raise
        except errors.KargoError as err:
            raise _FreightError(f"error creating Freight {wanted}: {err.message}") from err
        return str(stored["metadata"]["name"]), True

    @staticmethod
    def _first_empty(discovered: dict[str, Any]) -> tuple[str, str] | None:
        for entry in discovered.get("git") or []:
            if not entry.get("commits"):
                return (
                    REASON_NO_COMMITS,
                    f"no commits discovered for git repository {entry['repoURL']}",
                )
        for entry in discovered.get("images") or []:
            if not entry.get("references"):
                return (
                    REASON_NO_IMAGES,
                    f"no image references discovered for image repository {entry['repoURL']}",
                )
        for entry in discovered.get("charts") or []:
            if not entry.get("versions"):
                what = entry["repoURL"] + (f" (chart {entry['name']})" if entry.get("name") else "")
                return REASON_NO_CHARTS, f"no chart versions discovered for {what}"
        return None

    @staticmethod
    def _summary(discovered: dict[str, Any]) -> str:
        parts = []
        for key, label in (("git", "git"), ("images", "image"), ("charts", "chart")):
            count = len(discovered.get(key) or [])
            if count:
                parts.append(f"{count} {label} subscription{'s' if count != 1 else ''}")
        return "discovered " + ", ".join(parts) if parts else "nothing to discover"

    # --- discovery -----------------------------------------------------------------------

    async def discover(
        self, namespace: str, spec: dict[str, Any], previous: dict[str, Any], now: datetime
    ) -> dict[str, Any]:
        """`status.discoveredArtifacts` for a spec; subscriptions run concurrently."""
        subs = [s for s in spec.get("subscriptions") or [] if isinstance(s, dict)]
        previous_git = list(previous.get("git") or [])
        jobs: list[Awaitable[tuple[str, dict[str, Any]]]] = []
        git_index = 0
        for sub in subs:
            kind = subscription_type(sub)
            if kind == "git":
                prior = previous_git[git_index] if git_index < len(previous_git) else None
                git_index += 1
                jobs.append(self._discover_git(namespace, sub, prior))
            elif kind == "image":
                jobs.append(self._discover_image(namespace, sub))
            elif kind == "chart":
                jobs.append(self._discover_chart(namespace, sub))
            else:
                raise _UserError(
                    f"subscription {sub.get('name') or kind!r}: generic subscription type "
                    f"{kind!r} has no subscriber in this server; use git, image or chart"
                )
        results = await asyncio.gather(*jobs, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            for failure in failures:
                if not isinstance(failure, Exception):
                    raise failure
            user = [f for f in failures if _is_user_error(f)]
            message = "; ".join(_describe(f) for f in failures)
            if user:
                raise _UserError(message) from user[0]
            raise errors.DiscoveryError(message) from failures[0]
        out: dict[str, Any] = {"discoveredAt": clock_mod.format_time(now)}
        for result in results:
            assert not isinstance(result, BaseException)
            section, entry = result
            out.setdefault(section, []).append(entry)
        return out

    async def _credentials(
        self, namespace: str, kind: creds_mod.CredentialType, url: str
    ) -> creds_mod.Credentials | None:
        return await self.credentials.get(namespace, kind, url)

    def _ssl(self, insecure: bool) -> ssl.SSLContext:
        """One TLS context per setting, reused: loading the CA bundle costs ~60 ms a time."""
        context = self._ssl_contexts.get(insecure)
        if context is None:
            context = httpx.create_ssl_context(verify=not insecure)
            self._ssl_contexts[insecure] = context
        return context

    def _registry_client(
        self, host: str, credentials: creds_mod.Credentials | None, insecure: bool
    ) -> registry.RegistryClient:
        cfg = self.config
        return registry.RegistryClient(
            host,
            credentials,
            transport=httpx.AsyncHTTPTransport(verify=self._ssl(insecure)),
            plain_http_registries=cfg.plain_http_registries,
            rate_limit_per_s=cfg.registry_rate_limit,
            insecure_skip_tls_verify=insecure,
            timeout=cfg.registry_timeout,
            max_attempts=cfg.registry_max_attempts,
            backoff_base=cfg.registry_backoff_base,
            sleep=self._registry_sleep,
        )

    async def _discover_git(
        self, namespace: str, sub: dict[str, Any], prior: dict[str, Any] | None
    ) -> tuple[str, dict[str, Any]]:
        inner = dict(sub["git"])
        url = str(inner.get("repoURL") or "")
        credentials = await self._credentials(namespace, "git", url)
        if prior is not None and prior.get("repoURL") != url:
            prior = None
        commits, observed = await git_discovery.discover_commits(
            inner, self.mirrors, credentials, prior
        )
        entry: dict[str, Any] = {"repoURL": url}
        if sub.get("name"):
            entry["subscriptionName"] = sub["name"]
        entry["commits"] = commits
        if observed:
            entry["observedRefs"] = observed
        return "git", entry

    async def _discover_image(
        self, namespace: str, sub: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        inner = dict(sub["image"])
        url = str(inner.get("repoURL") or "")
        ref = registry.parse_repo_url(url)
        credentials = await self._credentials(namespace, "image", url)
        async with self._registry_client(
            ref.host, credentials, bool(inner.get("insecureSkipTLSVerify"))
        ) as client:
            references = await images.discover_images(inner, client, self.cache)
        entry: dict[str, Any] = {"repoURL": url}
        if inner.get("platform"):
            entry["platform"] = inner["platform"]
        if sub.get("name"):
            entry["subscriptionName"] = sub["name"]
        entry["references"] = references
        return "images", entry

    async def _discover_chart(
        self, namespace: str, sub: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        inner = dict(sub["chart"])
        url = str(inner.get("repoURL") or "")
        credentials = await self._credentials(namespace, "helm", url)
        insecure = bool(inner.get("insecureSkipTLSVerify"))
        if url.startswith("oci://"):
            ref = registry.parse_repo_url(url)
            async with self._registry_client(ref.host, credentials, insecure) as client:
                versions = await charts.discover_charts(
                    inner, cache=self.cache, registry_client=client, credentials=credentials
                )
        else:
            async with httpx.AsyncClient(
                verify=self._ssl(insecure),
                timeout=self.config.registry_timeout,
                follow_redirects=True,
            ) as http:
                versions = await charts.discover_charts(
                    inner, cache=self.cache, http_client=http, credentials=credentials
                )
        entry: dict[str, Any] = {"repoURL": url}
        if inner.get("name"):
            entry["name"] = inner["name"]
        if inner.get("semverConstraint"):
            entry["semverConstraint"] = inner["semverConstraint"]
        if sub.get("name"):
            entry["subscriptionName"] = sub["name"]
        entry["versions"] = versions
        return "charts", entry

    # --- classification, status, events --------------------------------------------------

    async def _write_status(
        self,
        warehouse: interface.Object,
        old_status: dict[str, Any],
        status: dict[str, Any],
        failure: BaseException | None,
    ) -> None:
        if status == old_status:
            return
        out = copy.deepcopy(warehouse)
        out["status"] = status
        try:
            try:
                await self.store.update_status(out)
            except errors.ConflictError:
                # The status is ours alone: write it over the newer object (a refresh or spec
                # change made meanwhile is noticed by the reconcile that change triggers).
                fresh = await self.store.get(
                    "Warehouse", out["metadata"]["namespace"], out["metadata"]["name"]
                )
                fresh["status"] = status
                await self.store.update_status(fresh)
        except errors.NotFoundError:
            return  # deleted meanwhile
        except Exception:
            if failure is None:
                raise  # retried with backoff on a fresh read
            log.warning(
                "writing status of Warehouse %s/%s failed after: %s",
                warehouse["metadata"].get("namespace"),
                warehouse["metadata"].get("name"),
                _describe(failure),
                exc_info=True,
            )

    async def _emit(
        self,
        warehouse: interface.Object,
        old_status: dict[str, Any],
        status: dict[str, Any],
        outcome: _Outcome,
    ) -> None:
        events = list(outcome.events)
        before = _condition(old_status, READY) or {}
        after = _condition(status, READY) or {}
        if after and (before.get("status"), before.get("reason")) != (
            after.get("status"),
            after.get("reason"),
        ):
            if after.get("status") == "False":
                events.append(("Warning", str(after.get("reason")), str(after.get("message"))))
            elif before.get("status") == "False":
                events.append(("Normal", "Recovered", str(after.get("message"))))
        for event_type, reason, message in events:
            try:
                await self.events.record(warehouse, event_type, reason, message)
            except Exception:
                log.exception("recording an event failed")


class _FreightError(errors.KargoError):
    """Creating Freight failed for a reason worth retrying (the store, not the user)."""


def _is_user_error(err: BaseException) -> bool:
    return isinstance(err, _UserError | errors.ValidationError | errors.PermissionDeniedError)


def _describe(err: BaseException) -> str:
    if isinstance(err, errors.KargoError):
        return err.message or type(err).__name__
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def warehouse_concurrency(config: WarehouseConfig) -> int:
    """How many Warehouses are reconciled at once (one slow registry never blocks the rest)."""
    return max(1, config.concurrency)


def default_credentials(
    store: interface.Store, env: dict[str, str] | None = None
) -> creds_mod.CredentialsProvider:
    """Credentials from labelled Secrets in the store (`kargo.credentials.database`).

    The server hands the controllers a store that unseals Secrets as it reads them, so the key
    here only matters when the controllers open the database themselves: then
    KARGO_SECRETS_KEY must hold the server's key. KARGO_ALLOW_CREDENTIALS_OVER_HTTP=true lets
    credentials go to plain-http repositories."""
    source = dict(os.environ) if env is None else env
    key = source.get("KARGO_SECRETS_KEY") or sealing.generate_key()
    allow_http = source.get("KARGO_ALLOW_CREDENTIALS_OVER_HTTP", "").lower() in ("1", "true", "yes")
    return database.StoreCredentials(store, sealing.SecretCipher(key), allow_over_http=allow_http)


def register(
    manager: runtime.Manager,
    store: interface.Store,
    *,
    clock: clock_mod.Clock,
    work_root: Path,
    credentials: creds_mod.CredentialsProvider | None = None,
    events: promotions.EventRecorder | None = None,
    config: WarehouseConfig | None = None,
    mirrors: mirror_mod.MirrorCache | None = None,
) -> WarehouseReconciler:
    """Build the WarehouseReconciler and register it on `manager` (called by `build_manager`).

    Anonymous credentials (`NoCredentials`, None, also behind the manager's redaction wrapper)
    are replaced by the store's Secrets."""
    inner = getattr(credentials, "inner", credentials)  # seen through a redaction wrapper
    if inner is None or isinstance(inner, creds_mod.NoCredentials):
        credentials = default_credentials(store)
    config = config or WarehouseConfig.from_env()
    reconciler = WarehouseReconciler(
        store,
        clock,
        credentials=credentials,
        mirrors=mirrors or mirror_mod.MirrorCache(work_root / ".git-mirrors"),
        config=config,
        events=events,
    )
    manager.register("Warehouse", reconciler, concurrency=warehouse_concurrency(config))
    manager.watch_related("Secret", CredentialsToWarehouses(store))
    return reconciler


class CredentialsToWarehouses:
    """A change to repository credentials wakes the Warehouses that may use them (those of the
    Secret's project, or every project's for shared credentials), so a Warehouse that failed for
    want of credentials retries at once instead of at its next interval."""

    def __init__(self, store: interface.Store) -> None:
        self.store = store

    async def __call__(self, secret: interface.Object) -> list[interface.ObjectKey]:
        """Keys of the Warehouses to reconcile."""
        labels = (secret.get("metadata") or {}).get("labels") or {}
        if labels.get(database.CRED_TYPE_LABEL) not in ("git", "image", "helm"):
            return []
        namespace = str((secret.get("metadata") or {}).get("namespace") or "")
        scope = None if namespace == database.SHARED_NAMESPACE else namespace
        keys: list[interface.ObjectKey] = []
        token: str | None = None
        while True:
            page = await self.store.list(
                "Warehouse", interface.ListOptions(namespace=scope, limit=500, continue_token=token)
            )
            keys.extend(runtime.key_of(w) for w in page.items)
            token = page.continue_token
            if not token:
                return keys
