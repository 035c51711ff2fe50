"""Pydantic models of every kind, one module per kind; `kargo.api.kinds` maps names to them."""

from __future__ import annotations

from kargo.api.models.analysis import AnalysisTemplate, ClusterAnalysisTemplate
from kargo.api.models.cluster_config import ClusterConfig
from kargo.api.models.core import ConfigMap, Secret
from kargo.api.models.freight import Freight
from kargo.api.models.project import Project
from kargo.api.models.project_config import ProjectConfig
from kargo.api.models.promotion import Promotion
from kargo.api.models.promotion_task import ClusterPromotionTask, PromotionTask
from kargo.api.models.stage import Stage
from kargo.api.models.warehouse import Warehouse

__all__ = [
    "AnalysisTemplate",
    "ClusterAnalysisTemplate",
    "ClusterConfig",
    "ClusterPromotionTask",
    "ConfigMap",
    "Freight",
    "Project",
    "ProjectConfig",
    "Promotion",
    "PromotionTask",
    "Secret",
    "Stage",
    "Warehouse",
]
