"""The plan (IR) and the pure function that builds it from a resolved spec."""

from compiler.plan.admission import AdmissionRulePlan
from compiler.plan.build import build_plan, resource_hash
from compiler.plan.model import (
    CONFIG_MOUNT,
    ONLINE_STORE_ENV,
    WORKSPACE,
    EdgePlan,
    EnvironmentPlan,
    IngesterPlan,
    KeyRefPlan,
    MonitorPlan,
    ObjectivePlan,
    Origin,
    PipelinePlan,
    ResourcesPlan,
    SecretRefPlan,
    ServingPlan,
    SloPlan,
    StepPlan,
    SystemPlan,
)

__all__ = [
    "AdmissionRulePlan",
    "CONFIG_MOUNT",
    "ONLINE_STORE_ENV",
    "WORKSPACE",
    "EdgePlan",
    "EnvironmentPlan",
    "IngesterPlan",
    "KeyRefPlan",
    "MonitorPlan",
    "ObjectivePlan",
    "Origin",
    "PipelinePlan",
    "ResourcesPlan",
    "SecretRefPlan",
    "ServingPlan",
    "SloPlan",
    "StepPlan",
    "SystemPlan",
    "build_plan",
    "resource_hash",
]
