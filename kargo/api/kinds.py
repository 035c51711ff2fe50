"""The registry of kinds: names (kind, plural, singular, short names), scope and model.

The CLI (`kargo get promos`), the REST API (`/projects/{p}/stages`) and the store all resolve a
user's word for a kind through `lookup`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from kargo import errors
from kargo.api import models
from kargo.api.models.common import API_VERSION, ROLLOUTS_API_VERSION


@dataclass(frozen=True)
class KindInfo:
    """Everything needed to name, scope and validate objects of one kind."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    api_version: str
    namespaced: bool
    model: type[BaseModel]

    def names(self) -> tuple[str, ...]:
        """Every word that designates this kind, lowercased."""
        return (self.kind.lower(), self.plural, self.singular, *self.short_names)


def _info(
    model: type[BaseModel],
    plural: str,
    *,
    short: tuple[str, ...] = (),
    namespaced: bool = True,
    api_version: str = API_VERSION,
) -> KindInfo:
    kind = model.__name__
    return KindInfo(
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        short_names=short,
        api_version=api_version,
        namespaced=namespaced,
        model=model,
    )


KINDS: dict[str, KindInfo] = {
    info.kind: info
    for info in (
        _info(models.Project, "projects", namespaced=False),
        _info(models.ProjectConfig, "projectconfigs"),
        _info(models.ClusterConfig, "clusterconfigs", namespaced=False),
        _info(models.Warehouse, "warehouses"),
        _info(models.Freight, "freights"),
        _info(models.Stage, "stages"),
        _info(models.Promotion, "promotions", short=("promo", "promos")),
        _info(models.PromotionTask, "promotiontasks", short=("promotask", "promotasks")),
        _info(
            models.ClusterPromotionTask,
            "clusterpromotiontasks",
            short=("clusterpromotask", "clusterpromotasks"),
            namespaced=False,
        ),
        _info(models.AnalysisTemplate, "analysistemplates", api_version=ROLLOUTS_API_VERSION),
        _info(
            models.ClusterAnalysisTemplate,
            "clusteranalysistemplates",
            namespaced=False,
            api_version=ROLLOUTS_API_VERSION,
        ),
        _info(models.Secret, "secrets", api_version="v1"),
        _info(models.ConfigMap, "configmaps", short=("cm",), api_version="v1"),
    )
}

_BY_NAME: dict[str, KindInfo] = {name: info for info in KINDS.values() for name in info.names()}


def lookup(name: str) -> KindInfo:
    """Resolve a kind, plural, singular or short name (any case); NotFoundError if unknown."""
    info = _BY_NAME.get(name.strip().lower())
    if info is None:
        raise errors.NotFoundError(
            f"unknown kind {name!r}; known kinds: {', '.join(sorted(KINDS))}"
        )
    return info
