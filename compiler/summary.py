"""Human-facing summary tables of a resolved system (for `specops show`)."""

from __future__ import annotations

from rich.table import Table

from compiler.policy.select import policies_for
from compiler.resolve import ResolvedSpec
from compiler.spec import DataSource, FeatureSet, Model, ModelRelease, RiskPolicy, ServiceLevel

__all__ = ["summary_tables"]


def summary_tables(spec: ResolvedSpec) -> list[Table]:
    tables: list[Table] = []
    if spec.system is not None:
        sys_spec = spec.system.resource.spec  # type: ignore[attr-defined]
        t = Table(title=f"System {spec.system.name} (owner {sys_spec.owner}; image {sys_spec.runtime.reference})")
        for col in ("environment", "kind", "namespace", "order", "approvals", "sync"):
            t.add_column(col)
        for env in sorted(sys_spec.environments, key=lambda e: e.promotion_order):
            sync = "auto" if env.sync.automated else "manual"
            t.add_row(env.name, env.kind, env.namespace, str(env.promotion_order), str(env.required_approvals), sync)
        tables.append(t)
    t = Table(title="Data sources")
    for col in ("name", "type", "entity", "fields", "freshness", "labels delay"):
        t.add_column(col)
    for _, ds in spec.of_kind(DataSource):
        s = ds.spec
        t.add_row(ds.name, s.type, s.entity, str(len(s.fields)), str(s.freshness.max_age) if s.freshness else "-",
                  str(s.labels.availability_delay) if s.labels else "-")
    tables.append(t)
    t = Table(title="Feature sets")
    for col in ("name", "source", "features", "max window"):
        t.add_column(col)
    for _, fs in spec.of_kind(FeatureSet):
        t.add_row(fs.name, "/".join(fs.spec.source.ref), str(len(fs.spec.feature_names())), str(fs.spec.max_window or "-"))
    tables.append(t)
    t = Table(title="Models")
    for col in ("name", "algorithm", "risk", "horizon", "environments", "policies", "objectives"):
        t.add_column(col)
    for _, m in spec.of_kind(Model):
        objectives = sum(len(sl.spec.objectives) for _, sl in spec.service_levels_for(m.name))
        t.add_row(m.name, m.spec.algorithm.type, m.spec.risk.tier, str(m.spec.label.horizon),
                  ", ".join(spec.deployed_environments(m.name)) or "-",
                  ", ".join(p.name for p in policies_for(spec, m)) or "-", str(objectives))
    tables.append(t)
    t = Table(title="Releases")
    for col in ("release", "model", "version", "deployments", "approvals"):
        t.add_column(col)
    for _, r in spec.of_kind(ModelRelease):
        deployments = ", ".join(
            f"{d.environment}:{d.role}" + (f"@{d.canary_step}" if d.canary_step is not None else "") for d in r.spec.deployments
        )
        t.add_row(r.name, r.spec.model, r.spec.version, deployments or "-", str(len(r.spec.approvals)))
    tables.append(t)
    t = Table(title="Risk policies")
    for col in ("name", "selects", "spec rules", "admission rules", "prediction rules", "approvals"):
        t.add_column(col)
    for _, p in spec.of_kind(RiskPolicy):
        by = {k: sum(1 for r in p.spec.rules if r.target == k) for k in ("spec", "admission", "prediction")}
        sel = p.spec.selector
        selects = ", ".join([*(f"tier={x}" for x in sel.risk_tiers), *sel.models]) or "all models"
        t.add_row(p.name, selects, str(by["spec"]), str(by["admission"]), str(by["prediction"]),
                  ", ".join(f"{a.environment}:{a.count}" for a in p.spec.approvals) or "-")
    tables.append(t)
    return tables
