"""A model's review config: its ``spec.review`` policy, the System's review
store and where reviewer decisions land as labels.

Two variants, like every runtime config: the local one (SQLite under
``.specops/``, labels beside the local label files) for ``specops review``
and a local predictor; the cluster one (PostgreSQL, DSN from the Secret the
System names, mapped to ``REVIEW_DSN_ENV`` in the pod) inside the predictor's
ServeConfig.
"""

from __future__ import annotations

import posixpath

from compiler.plan.notifiers import notifier_configs
from compiler.spec import DataSource, Model, System
from runtime.contracts.steps import (
    FieldConfig,
    ReviewConfig,
    ReviewLabelsConfig,
    ReviewPolicyConfig,
    ReviewStoreConfig,
    ControlChannelConfig,
)

__all__ = ["LOCAL_REVIEW_DB", "MAX_LEASE_S", "REVIEW_DSN_ENV", "control_channel", "review_config", "review_store"]

LOCAL_REVIEW_DB = ".specops/review/review.db"
REVIEW_DSN_ENV = "SPECOPS_REVIEW_DSN"
# A claim returns to the queue after this long (or half the timeout, if shorter)
# so an abandoned claim never sits on an item until it times out.
MAX_LEASE_S = 600.0


def _labels_output(source: DataSource, model: str, remote: str | None) -> str:
    name = f"review-{model}.parquet"
    path = source.spec.file.path if source.spec.file else None
    if path is None:
        return posixpath.join(".specops/work", model, "review", name)
    parts = path.split("/")
    keep = []
    for part in parts[:-1]:
        if any(ch in part for ch in "*?["):
            break
        keep.append(part)
    folder = "/".join(keep) or "."
    if remote and "://" not in folder:
        folder = f"{remote.rstrip('/')}/{folder}"
    return posixpath.join(folder, name)


def review_store(system: System, *, cluster: bool) -> ReviewStoreConfig:
    """The System's review store (also the audit log's and the incidents' database)."""
    store_spec = system.spec.review_store
    if cluster and store_spec.backend == "postgres" and store_spec.connection is not None:
        ref = store_spec.connection.secret_ref
        return ReviewStoreConfig(backend="postgres", dsn_env=REVIEW_DSN_ENV, dsn_secret=f"{ref.name}/{ref.key}")
    return ReviewStoreConfig(backend="sqlite", path=LOCAL_REVIEW_DB)


def review_config(model: Model, system: System, labels: DataSource, spec_hash: str, *, cluster: bool,
                  remote: str | None = None) -> ReviewConfig | None:
    """None when the model has no ``review`` section (nothing is escalated to humans)."""
    review = model.spec.review
    if review is None:
        return None
    store = review_store(system, cluster=cluster)
    timeout = review.timeout.seconds
    policy = ReviewPolicyConfig(timeout_s=timeout, escalation=review.escalation,
                                conservative_action=review.conservative_action, notify=review.notify,
                                lease_s=min(MAX_LEASE_S, timeout / 2),
                                notifier_configs=notifier_configs(system, review.notify))
    spec = labels.spec
    assert spec.labels is not None, "lint requires the model's label source to be a labels source"
    fields = tuple(FieldConfig(name=f.name, type=f.type, nullable=f.nullable, min=f.min, max=f.max, values=f.values,
                               pii=f.pii) for f in spec.fields)
    out = _labels_output(labels, model.name, remote if cluster else None)
    return ReviewConfig(
        model=model.name, spec_hash=spec_hash, store=store, policy=policy,
        labels=ReviewLabelsConfig(source=labels.name, entity=spec.entity, timestamp=spec.timestamp,
                                  outcome=spec.labels.outcome, positive_value=spec.labels.positive_value,
                                  fields=fields, output=out))


def control_channel(model: Model, system: System, *, cluster: bool) -> ControlChannelConfig:
    """How the monitor's levers reach the model's predictors.  In a cluster the
    monitor is another pod than the (replicated) predictors, so a file reaches
    none of them: the review store's PostgreSQL does, when the model has a
    review section (only then is its DSN mapped into the predictor).  Locally,
    and when there is no shared store, the control file under work_dir."""
    store = review_store(system, cluster=cluster)
    if cluster and model.spec.review is not None and store.backend == "postgres":
        return ControlChannelConfig(backend="database", store=store)
    return ControlChannelConfig(backend="file")
