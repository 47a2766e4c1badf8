"""The plan (IR) and the pure function that builds it from a resolved spec."""

from compiler.plan.build import build_plan, resource_hash
from compiler.plan.model import (
    CONFIG_MOUNT,
    ONLINE_STORE_ENV,
    WORKSPACE,
    EdgePlan,
    EnvironmentPlan,
    IngesterPlan,
    MonitorPlan,
    Origin,
    PipelinePlan,
    ResourcesPlan,
    ServingPlan,
    StepPlan,
    SystemPlan,
)

__all__ = [
    "CONFIG_MOUNT",
    "ONLINE_STORE_ENV",
    "WORKSPACE",
    "EdgePlan",
    "EnvironmentPlan",
    "IngesterPlan",
    "MonitorPlan",
    "Origin",
    "PipelinePlan",
    "ResourcesPlan",
    "ServingPlan",
    "StepPlan",
    "SystemPlan",
    "build_plan",
    "resource_hash",
]
