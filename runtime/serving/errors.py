"""Why a prediction request was refused, as an HTTP status and a metric reason.

Every refusal the caller can fix is a 4xx with one clear message; the
server's own trouble (the online store is down) is a 503.  Unexpected
exceptions are kserve's 500 and are bugs.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["BadInput", "FeaturesUnavailable", "PayloadTooLarge", "ServingError", "Timeout", "UnknownEntity",
           "UnsupportedMediaType", "reason_for_status"]


class ServingError(Exception):
    status: ClassVar[int] = 400
    reason: ClassVar[str] = "invalid_input"  # runtime.contracts.metrics.ERROR_REASONS

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(ServingError):
    """The body does not follow the request contract (field, type, value)."""


class UnknownEntity(ServingError):
    status = 404


class PayloadTooLarge(ServingError):
    status = 413


class UnsupportedMediaType(ServingError):
    status = 415


class FeaturesUnavailable(ServingError):
    status = 503
    reason = "feature_unavailable"


class Timeout(ServingError):
    """The request's work took longer than the serve config's ``timeout_s``:
    a late answer is one the caller has given up on."""

    status = 504
    reason = "timeout"


def reason_for_status(status: int) -> str | None:
    """The error reason of a finished HTTP response (None: not an error)."""
    if status < 400:
        return None
    if status < 500:
        return "invalid_input"
    return {503: "feature_unavailable", 504: "timeout"}.get(status, "internal")
