"""The spec language: one pydantic model per kind, registered by name."""

from __future__ import annotations

from compiler.spec.base import API_VERSION, Duration, Resource
from compiler.spec.datasource import DataSource
from compiler.spec.featureset import FeatureSet
from compiler.spec.model import Model
from compiler.spec.release import ModelRelease
from compiler.spec.riskpolicy import RiskPolicy
from compiler.spec.servicelevel import ServiceLevel
from compiler.spec.system import System

__all__ = [
    "API_VERSION",
    "KINDS",
    "DataSource",
    "Duration",
    "FeatureSet",
    "Model",
    "ModelRelease",
    "Resource",
    "RiskPolicy",
    "ServiceLevel",
    "System",
]

# The registry of kinds: a new kind is one module and one line here.
KINDS: dict[str, type[Resource]] = {
    cls.KIND: cls
    for cls in (System, DataSource, FeatureSet, Model, ServiceLevel, RiskPolicy, ModelRelease)
}
