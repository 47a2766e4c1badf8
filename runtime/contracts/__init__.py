"""The contract between compiler and runtime: step names, step configs and
the policy bundle.  This is the only part of ``runtime`` the compiler imports."""

from runtime.contracts.cel import CelError, CelProgram, compile_cel, prepare_context
from runtime.contracts.policy import (
    PREDICTION_VARIABLES,
    Decision,
    PolicyBundle,
    PredictionContext,
    PredictionRule,
)
from runtime.contracts.steps import STEP_CONFIGS, STEPS, StepConfig, StepName

__all__ = [
    "PREDICTION_VARIABLES",
    "STEPS",
    "STEP_CONFIGS",
    "StepConfig",
    "CelError",
    "CelProgram",
    "Decision",
    "PolicyBundle",
    "PredictionContext",
    "PredictionRule",
    "StepName",
    "compile_cel",
    "prepare_context",
]
