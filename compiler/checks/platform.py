"""What the platform's Terraform provisions from the System spec: the
artifact bucket of ``artifacts.uri``.  A bucket name S3 would refuse is an
error here, at lint time, instead of a failed ``terraform apply`` after the
pull request merged; object stores Terraform does not provision are a
warning (the bucket must exist before the first run)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from compiler.checks.base import error, warning
from compiler.diagnostics import Diagnostic
from compiler.resolve import ResolvedSpec

__all__ = ["UNPROVISIONED_SCHEMES", "check", "s3_bucket_problem"]

# Object stores the runtime reads (fsspec) but terraform/ does not create.
UNPROVISIONED_SCHEMES = ("gs://", "az://", "abfs://")

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
# Reserved by S3 (general purpose bucket naming rules).
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def s3_bucket_problem(name: str) -> str | None:
    """Why S3 would refuse this bucket name, or None."""
    if not 3 <= len(name) <= 63:
        return f"is {len(name)} characters long (S3 allows 3 to 63)"
    if not _BUCKET.match(name):
        return "may hold only lowercase letters, digits, dots and hyphens, and must start and end with a letter or digit"
    if ".." in name:
        return "has two adjacent dots"
    if _IP.match(name):
        return "is formatted as an IP address"
    for prefix in _RESERVED_PREFIXES:
        if name.startswith(prefix):
            return f"starts with the reserved prefix '{prefix}'"
    for suffix in _RESERVED_SUFFIXES:
        if name.endswith(suffix):
            return f"ends with the reserved suffix '{suffix}'"
    return None


def check(spec: ResolvedSpec) -> Iterator[Diagnostic]:
    system = spec.system
    if system is None:
        return
    uri = system.resource.spec.artifacts.uri  # type: ignore[attr-defined]
    path = ("spec", "artifacts", "uri")
    if uri.startswith("s3://"):
        bucket = uri[len("s3://"):].split("/", 1)[0]
        problem = s3_bucket_problem(bucket)
        if problem:
            yield error("SO490", system, path, f"the S3 bucket name '{bucket}' {problem}",
                        "use a name like 'acme-ml-artifacts' (lowercase letters, digits, hyphens)")
    elif uri.startswith(UNPROVISIONED_SCHEMES):
        yield warning("SO491", system, path,
                      f"terraform/ provisions S3 buckets only: the bucket of '{uri}' is not created by it",
                      "create the bucket (versioned, private, encrypted) before the first run, or use s3://")
