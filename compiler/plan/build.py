"""Stage 5: resolved spec -> SystemPlan (pure: no disk, clock, env or network).

What is deployed is what git says: ModelRelease resources decide every
InferenceService and edge bundle; nothing is looked up anywhere else.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime, time, timedelta, timezone
from functools import cached_property
from typing import Any

from pydantic import BaseModel

from compiler.plan.admission import build_admission
from compiler.plan.model import (
    CONFIG_MOUNT,
    ONLINE_STORE_ENV,
    EdgePlan,
    EnvironmentPlan,
    IngesterPlan,
    KeyRefPlan,
    LocalServePlan,
    MonitorPlan,
    ObjectivePlan,
    Origin,
    PipelinePlan,
    ResourcesPlan,
    ReviewPlan,
    SecretRefPlan,
    ServingPlan,
    SloPlan,
    StepPlan,
    SystemPlan,
)
from compiler.plan.notifiers import notifier_configs
from compiler.plan.review import control_channel, review_config, review_store
from compiler.policy.select import counted_approvals, required_approvals, selects
from compiler.resolve import ResolvedSpec
from compiler.spec import DataSource, FeatureSet, Model, ModelRelease, RiskPolicy, ServiceLevel, System
from compiler.spec.base import SecretRef
from compiler.spec.servicelevel import DURATION_METRICS
from compiler.spec.system import KeySource
from compiler.validate import SpecNode
from runtime.contracts import PolicyBundle
from runtime.contracts.policy import PredictionRule
from runtime.contracts.steps import (
    EDGE_SIGNING_KEY_FILE,
    EDGE_STORE_DIR,
    AggregationConfig,
    ArtifactStoreConfig,
    BreakerConfig,
    BuildFeaturesConfig,
    DataSourceConfig,
    EdgeRunConfig,
    EnforcementConfig,
    EvaluateConfig,
    ExportOnnxConfig,
    FeatureSetConfig,
    FieldConfig,
    GateConfig,
    GenerateDataConfig,
    MaterializeOnlineConfig,
    GeneratorConfig,
    IngestConfig,
    LabelConfig,
    MonitorConfig,
    NotifierConfig,
    ObjectiveConfig,
    OnlineStoreConfig,
    ParityConfig,
    ProposeReleaseConfig,
    RegisterConfig,
    ReleaseRef,
    ReviewConfig,
    PredictionLogConfig,
    ServeConfig,
    StreamConsumerConfig,
    TrainConfig,
    TransformConfig,
    ValidateDataConfig,
)
from runtime.contracts.steps import CanaryConfig

__all__ = ["DOCKER_CONFIG_KEY", "LOCAL_ARTIFACTS", "build_plan", "resource_hash", "secret_refs"]

LOCAL_ARTIFACTS = ".specops/artifacts"
# `specops serve`: the local predictor listens on loopback only.
LOCAL_ENVIRONMENT = "local"
LOCAL_HOST = "127.0.0.1"
LOCAL_PORT = 8080
WORK_ROOT = ".specops/work"
LOCAL_ONLINE_STORE = "sqlite:///.specops/online/features.sqlite"
MONITOR_SCHEDULE = "*/5 * * * *"
LOCAL_PREDICTION_LOG = ".specops/prediction-log"  # local Parquet root; the write-ahead files sit in the work dir
PREDICTION_LOG_COMPACT_S = 300.0  # in a pod: the write-ahead file is on its volume, so the predictor compacts
PIPELINE_DEADLINE_S = 4 * 3600
STEP_DEADLINE_S = 3600

# Pipeline step resources: training needs more than the rest.
_STEP_RESOURCES = {
    "train": ResourcesPlan("2", "4Gi", "4", "8Gi"),
    "build-features": ResourcesPlan("1", "2Gi", "2", "4Gi"),
}
_DEFAULT_RESOURCES = ResourcesPlan("500m", "1Gi", "1", "2Gi")


def resource_hash(node: SpecNode) -> str:
    """sha256 of a resource's canonical JSON: stable across formatting and key order."""
    data = node.resource.model_dump(mode="json", by_alias=True)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _combined_hash(hashes: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(hashes)).encode()).hexdigest()


def _origin(node: SpecNode) -> Origin:
    return Origin(node.id, node.document.file, node.location("metadata", "name").line)


class _Builder:
    def __init__(self, spec: ResolvedSpec) -> None:
        assert spec.system is not None, "build_plan needs a System (lint reports SO305)"
        self.spec = spec
        self.system_node = spec.system
        self.system: System = spec.system.resource  # type: ignore[assignment]
        self.hashes = {node_id: resource_hash(node) for node_id, node in spec.nodes.items()}
        art = self.system.spec.artifacts
        self.remote = ArtifactStoreConfig(
            uri=art.uri,
            credentials_secret=f"{art.credentials.secret_ref.name}/{art.credentials.secret_ref.key}" if art.credentials else None,
        )
        self.local = ArtifactStoreConfig(uri=LOCAL_ARTIFACTS)

    # ---------------------------------------------------------------- helpers

    def lineage_hash(self, model: Model) -> str:
        """Hash over a model and everything it is built from or governed by."""
        ids = {model.id, f"System/{self.system.name}"}
        ids.update(f"FeatureSet/{f.feature_set}" for f in model.spec.features)
        ids.add(f"DataSource/{model.spec.label.source}")
        for fs_id in list(ids):
            node = self.spec.nodes.get(fs_id)
            if node is not None and node.kind == "FeatureSet":
                ids.update(self._feature_lineage(node.resource))  # type: ignore[arg-type]
        ids.update(sl.id for _, sl in self.spec.service_levels_for(model.name))
        ids.update(p.id for _, p in self.spec.of_kind(RiskPolicy) if selects(p, model))
        return _combined_hash(self.hashes[i] for i in ids if i in self.hashes)

    def _feature_lineage(self, fs: FeatureSet) -> set[str]:
        out = {fs.id}
        kind, name = fs.spec.source.ref
        out.add(f"{kind}/{name}")
        if fs.spec.online.stream:
            out.add(f"DataSource/{fs.spec.online.stream}")
        if kind == "FeatureSet":
            parent = self.spec.get("FeatureSet", name)
            if parent is not None:
                out |= self._feature_lineage(parent.resource)  # type: ignore[arg-type]
        return out

    def data_source(self, name: str, cluster: bool) -> DataSourceConfig:
        ds: DataSource = self.spec.nodes[f"DataSource/{name}"].resource  # type: ignore[assignment]
        s = ds.spec
        path = s.file.path if s.file else None
        if path and cluster and "://" not in path:
            path = f"{self.remote.uri.rstrip('/')}/{path}"
        return DataSourceConfig(
            name=ds.name,
            type=s.type,
            path=path,
            format=s.file.format if s.file else None,
            stream_url=s.stream.url if s.stream else None,
            subject=s.stream.subject if s.stream else None,
            stream=s.stream.stream if s.stream else None,
            durable=s.stream.durable if s.stream else None,
            entity=s.entity,
            timestamp=s.timestamp,
            fields=tuple(
                FieldConfig(name=f.name, type=f.type, nullable=f.nullable, min=f.min, max=f.max, values=f.values, pii=f.pii)
                for f in s.fields
            ),
            max_null_fraction=s.quality.max_null_fraction,
            max_duplicate_fraction=s.quality.max_duplicate_fraction,
            max_out_of_range_fraction=s.quality.max_out_of_range_fraction,
            min_rows=s.quality.min_rows,
            freshness_max_age_s=s.freshness.max_age.seconds if s.freshness else None,
            allowed_lateness_s=s.late_events.allowed_lateness.seconds if s.late_events else None,
            late_policy=s.late_events.policy if s.late_events else None,
            quarantine_action=s.quarantine.action,
            max_bad_fraction=s.quarantine.max_bad_fraction,
            freshness_severity=s.freshness.severity if s.freshness else "error",
            availability_delay_s=s.labels.availability_delay.seconds if s.labels else None,
        )

    def feature_set(self, name: str) -> FeatureSetConfig:
        fs: FeatureSet = self.spec.nodes[f"FeatureSet/{name}"].resource  # type: ignore[assignment]
        kind, source = fs.spec.source.ref
        timestamp = "event_time"
        late = None
        if kind == "DataSource":
            timestamp = self.spec.nodes[f"DataSource/{source}"].resource.spec.timestamp  # type: ignore[attr-defined]
            late = self.spec.nodes[f"DataSource/{source}"].resource.spec.late_events  # type: ignore[attr-defined]
        aggregations = tuple(
            AggregationConfig(name=f"{agg.column or 'events'}_{fn}_{w}", column=agg.column, function=fn, window_s=w.seconds)
            for agg in fs.spec.aggregations
            for fn in agg.functions
            for w in agg.windows
        )
        return FeatureSetConfig(
            name=fs.name,
            source=source,
            entity=fs.spec.entity,
            timestamp=timestamp,
            attributes=fs.spec.attributes,
            transforms=tuple(TransformConfig(name=t.name, expression=t.expression, inputs=t.inputs, type=t.type)
                             for t in fs.spec.transforms),
            aggregations=aggregations,
            online_ttl_s=fs.spec.online.ttl.seconds if fs.spec.online.ttl else None,
            online_stream=fs.spec.online.stream,
            allowed_lateness_s=late.allowed_lateness.seconds if late else None,
            late_policy=late.policy if late else None,
        )

    def features_of(self, model: Model) -> tuple[str, ...]:
        names: list[str] = []
        for ref in model.spec.features:
            fs: FeatureSet = self.spec.nodes[f"FeatureSet/{ref.feature_set}"].resource  # type: ignore[assignment]
            for n in ref.include or fs.spec.feature_names():
                if n not in names:
                    names.append(n)
        return tuple(names)

    def feature_set_names(self, model: Model) -> list[str]:
        """The model's feature sets plus the ones they derive from, parents first."""
        ordered: list[str] = []

        def visit(name: str) -> None:
            fs = self.spec.nodes[f"FeatureSet/{name}"].resource
            kind, source = fs.spec.source.ref  # type: ignore[attr-defined]
            if kind == "FeatureSet":
                visit(source)
            if name not in ordered:
                ordered.append(name)

        for ref in model.spec.features:
            visit(ref.feature_set)
        return ordered

    def root_sources(self, model: Model) -> list[str]:
        out: list[str] = []
        for name in self.feature_set_names(model):
            kind, source = self.spec.nodes[f"FeatureSet/{name}"].resource.spec.source.ref  # type: ignore[attr-defined]
            if kind == "DataSource" and source not in out:
                out.append(source)
        if model.spec.label.source not in out:
            out.append(model.spec.label.source)
        return out

    @staticmethod
    def release_ref(rel: ModelRelease) -> ReleaseRef:
        return ReleaseRef(name=rel.name, version=rel.spec.version, uri=rel.spec.artifact.uri, sha256=rel.spec.artifact.sha256)

    # -------------------------------------------------------------- pipelines

    def pipeline(self, node: SpecNode, model: Model, env: EnvironmentPlan) -> PipelinePlan:
        m = model.spec
        origin = _origin(node)
        spec_hash = self.lineage_hash(model)
        work = f"{WORK_ROOT}/{model.name}"
        cfg_dir = f"{CONFIG_MOUNT}/{model.name}"
        paths = {
            "validated": f"{work}/validated",
            "data_report": f"{work}/reports/data.json",
            "features": f"{work}/features",
            "parity": f"{work}/reports/parity.json",
            "model": f"{work}/model",
            "evaluation": f"{work}/reports/evaluation.json",
            "onnx": f"{work}/onnx",
            "entry": f"{work}/registry/entry.json",
            "proposal": f"{work}/release",
        }
        champion = next(
            (self.release_ref(r) for _, r in self.spec.releases_for(model.name)
             for d in r.spec.deployments if d.role == "champion" and d.environment == self._production_env(model)),
            None,
        )
        label_src: DataSource = self.spec.nodes[f"DataSource/{m.label.source}"].resource  # type: ignore[assignment]
        labels = label_src.spec.labels
        assert labels is not None
        sources = self.root_sources(model)
        slice_column = next((a for fs in self.feature_set_names(model)
                             for a in self.spec.nodes[f"FeatureSet/{fs}"].resource.spec.attributes  # type: ignore[attr-defined]
                             if a.endswith("_type")), None)

        data_hash = _combined_hash(self.hashes[i] for i in
                                   sorted({f"DataSource/{s}" for s in sources} | {self.system_node.id}) if i in self.hashes)

        def common(cluster: bool) -> dict[str, Any]:
            return {"model": model.name, "spec_hash": spec_hash, "artifacts": self.remote if cluster else self.local,
                    "work_dir": work}

        def configs(cluster: bool) -> dict[str, Any]:
            c = common(cluster)
            return {
                "validate-data": ValidateDataConfig(
                    # Its own lineage: the contracts it applies, not the whole model, so a
                    # feature or model edit does not revalidate (and re-hash) the data.
                    **{**c, "spec_hash": data_hash},
                    sources=tuple(self.data_source(s, cluster) for s in sources),
                    output=paths["validated"], report=paths["data_report"],
                    as_of=None if cluster or not self.sample_sources & set(sources) else self.sample_end),
                "build-features": BuildFeaturesConfig(
                    **c, entity=m.entity, feature_sets=tuple(self.feature_set(n) for n in self.feature_set_names(model)),
                    features=self.features_of(model),
                    label=LabelConfig(source=m.label.source, outcome=labels.outcome, positive_value=labels.positive_value,
                                      horizon_s=m.label.horizon.seconds, availability_delay_s=labels.availability_delay.seconds,
                                      timestamp=label_src.spec.timestamp),
                    input=paths["validated"], output=paths["features"]),
                "parity": ParityConfig(
                    **c, feature_sets=tuple(self.feature_set(n) for n in self.feature_set_names(model)),
                    features=self.features_of(model), input=paths["validated"], output=paths["parity"]),
                "train": TrainConfig(
                    **c, features=self.features_of(model), algorithm=m.algorithm.type, params=dict(sorted(m.algorithm.params.items())),
                    seed=m.algorithm.seed, baseline=m.baseline.type if m.baseline else None,
                    baseline_params=dict(sorted(m.baseline.params.items())) if m.baseline else {},
                    imbalance=m.imbalance.strategy, negative_ratio=m.imbalance.negative_ratio,
                    folds=m.validation.folds, test_window_s=m.validation.test_window.seconds, gap_s=m.validation.gap.seconds,
                    min_train_window_s=m.validation.min_train_window.seconds,
                    early_stopping_rounds=m.validation.early_stopping_rounds, calibration=m.calibration.method,
                    threshold_strategy=m.threshold.strategy, false_negative_cost=m.threshold.false_negative_cost,
                    false_positive_cost=m.threshold.false_positive_cost, target_precision=m.threshold.target_precision,
                    threshold_value=m.threshold.value, input=paths["features"], output=paths["model"],
                    slice_column=slice_column),
                "evaluate": EvaluateConfig(
                    **c, gates=tuple(GateConfig(metric=g.metric, min=g.min, max=g.max, at=g.at) for g in m.gates),
                    challenger_metric=m.challenger.metric, challenger_tolerance=m.challenger.tolerance,
                    champion=champion if cluster else None, champion_alias=None if cluster else "champion",
                    slice_column=slice_column, input=paths["features"], model_dir=paths["model"],
                    output=paths["evaluation"]),
                "export-onnx": ExportOnnxConfig(
                    **c, opset=m.export.onnx.opset, parity_tolerance=m.export.onnx.parity_tolerance,
                    edge_enabled=m.export.edge.enabled, edge_max_size_bytes=m.export.edge.max_size_bytes,
                    edge_max_latency_ms=m.export.edge.max_latency_ms, allow_tree_truncation=m.export.edge.allow_tree_truncation,
                    model_dir=paths["model"], input=paths["features"], output=paths["onnx"],
                    truncation_max_pr_auc_loss=m.challenger.tolerance,
                    # A cluster signs with the System's key (mounted from its Secret);
                    # locally a throwaway key, which production edge runners refuse.
                    signing_key_file=EDGE_SIGNING_KEY_FILE
                    if cluster and m.export.edge.enabled and self.system.spec.edge.signing_key else None),
                "register": RegisterConfig(**c, model_dir=paths["model"], onnx_dir=paths["onnx"], report=paths["evaluation"],
                                           output=paths["entry"], promote_to=() if cluster else ("champion",)),
                "propose-release": ProposeReleaseConfig(**c, entry=paths["entry"], releases_dir="specs/releases",
                                                        output=paths["proposal"]),
            }

        local, cluster = configs(False), configs(True)
        data_deps = tuple(sorted({self._dep_path(cfg.path) for cfg in local["validate-data"].sources if cfg.path}))
        io = {
            "validate-data": (data_deps, (paths["validated"], paths["data_report"])),
            "build-features": ((paths["validated"],), (paths["features"],)),
            "parity": ((paths["validated"],), (paths["parity"],)),
            # train waits for the parity report: skew stops the pipeline before a model is trained.
            "train": ((paths["features"], paths["parity"]), (paths["model"],)),
            "evaluate": ((paths["features"], paths["model"]), (paths["evaluation"],)),
            "export-onnx": ((paths["features"], paths["model"], paths["evaluation"]), (paths["onnx"],)),
            "register": ((paths["model"], paths["onnx"], paths["evaluation"]), (paths["entry"],)),
            "propose-release": ((paths["entry"],), (paths["proposal"],)),
        }
        params = {
            "train": ("algorithm", "params", "seed", "imbalance", "folds", "calibration", "threshold_strategy"),
            "evaluate": ("gates", "challenger_tolerance"),
            "export-onnx": ("opset", "parity_tolerance"),
        }
        order = list(local)
        steps = []
        for i, name in enumerate(order):
            deps, outs = io[name]
            steps.append(StepPlan(
                name=name, step=name, model=model.name,  # type: ignore[arg-type]
                config_path=f"{cfg_dir}/{name}.json", config=local[name], cluster_config=cluster[name],
                deps=deps, outs=outs, after=(order[i - 1],) if i else (), params=params.get(name, ()),
                resources=_STEP_RESOURCES.get(name, _DEFAULT_RESOURCES), retries=0 if name == "propose-release" else 2,
                deadline_s=STEP_DEADLINE_S, origin=origin,
            ))
        return PipelinePlan(
            name=f"{model.name}-training", model=model.name, environment=env.name, namespace=env.namespace,
            steps=tuple(steps), schedule=m.retrain.schedule, deadline_s=PIPELINE_DEADLINE_S,
            config_map=f"{model.name}-pipeline-config", origin=origin,
        )

    @staticmethod
    def _dep_path(path: str) -> str:
        """A DVC dependency for a data location: the folder above the first glob."""
        parts = path.split("/")
        keep = []
        for part in parts:
            if any(ch in part for ch in "*?["):
                break
            keep.append(part)
        return "/".join(keep) or "."

    def _production_env(self, model: Model) -> str | None:
        """The environment whose champion a new model is compared with: the last cloud one in promotion order."""
        envs = [e for e in self.system.spec.environments if e.kind == "cloud" and e.name in model.spec.serving.environments]
        return max(envs, key=lambda e: e.promotion_order).name if envs else None

    # ---------------------------------------------------------------- serving

    def servings(self, node: SpecNode, model: Model, envs: dict[str, EnvironmentPlan]) -> tuple[list[ServingPlan], list[EdgePlan]]:
        roles: dict[str, dict[str, ModelRelease]] = {}
        for _, rel in self.spec.releases_for(model.name):
            for d in rel.spec.deployments:
                roles.setdefault(d.environment, {})[d.role] = rel
        servings: list[ServingPlan] = []
        edges: list[EdgePlan] = []
        spec_hash = self.lineage_hash(model)
        m = model.spec
        fs_configs = tuple(self.feature_set(n) for n in self.feature_set_names(model))
        for env_name in sorted(roles):
            env = envs.get(env_name)
            by_role = roles[env_name]
            champion = by_role.get("champion")
            if env is None or champion is None:
                continue
            if env.kind == "edge":
                cfg_path = f"{CONFIG_MOUNT}/{model.name}/edge-run-{env.name}.json"
                config = EdgeRunConfig(model=model.name, spec_hash=spec_hash, artifacts=self.remote,
                                       work_dir=f"{WORK_ROOT}/{model.name}", bundle=self.release_ref(champion),
                                       environment=env.name, max_latency_ms=m.export.edge.max_latency_ms)
                storage = self.system.spec.edge.bundle_storage
                edges.append(EdgePlan(
                    name=f"{model.name}-edge-runner", model=model.name, environment=env.name, namespace=env.namespace,
                    release=self.release_ref(champion), release_name=champion.name, config_path=cfg_path, config=config,
                    config_map=f"{model.name}-edge-{_short(champion.spec.version)}-{_content_hash(config)}",
                    origin=_origin(node), store_path=f"{config.work_dir}/{EDGE_STORE_DIR}",
                    claim_name=f"{model.name}-edge-bundles", storage_size=storage.size,
                    storage_class=storage.storage_class_name))
                continue
            canary = by_role.get("canary")
            shadow = by_role.get("shadow")
            served = canary or champion
            percent = None
            if canary is not None:
                deployment = next(d for d in canary.spec.deployments if d.environment == env_name and d.role == "canary")
                steps = m.serving.canary.steps if m.serving.canary else (0,)
                percent = steps[min(deployment.canary_step or 0, len(steps) - 1)]
            cfg_path = f"{CONFIG_MOUNT}/{model.name}/serve-{env.name}.json"
            config = ServeConfig(
                model=model.name, spec_hash=spec_hash, artifacts=self.remote, work_dir=f"{WORK_ROOT}/{model.name}",
                environment=env.name, release=self.release_ref(served), role="canary" if canary else "champion",
                shadow=self.release_ref(shadow) if shadow else None, entity=m.entity, features=self.features_of(model),
                feature_sets=fs_configs, timeout_s=m.serving.timeout.seconds,
                review=self.review(model, spec_hash, cluster=True),
                max_feature_age_s=m.serving.max_feature_age.seconds if m.serving.max_feature_age else None,
                policy_bundle=f"{CONFIG_MOUNT}/{model.name}/policy-bundle.json", risk_tier=m.risk.tier,
                online_store=self.online_store(True), sources=self.serve_sources(fs_configs, True),
                # KServe splits traffic between revisions (canaryTrafficPercent); the percent is
                # not the predictor's business in a cluster, and in its config it would make every
                # canary step a new content-addressed ConfigMap, hence a new revision.
                canary=canary_config(model, 0.0),
                breaker=self.breaker(model, env.name, self.release_ref(champion) if canary else None),
                prediction_log=self.prediction_log(model, env.name, cluster=True),
                control=control_channel(model, self.system, cluster=True),
            )
            r = m.serving.resources
            servings.append(ServingPlan(
                name=model.name, model=model.name, environment=env.name, namespace=env.namespace,
                release=self.release_ref(served), release_name=served.name, role="canary" if canary else "champion",
                previous_release=champion.name if canary else None, canary_percent=percent,
                shadow=self.release_ref(shadow) if shadow else None,
                approvals=counted_approvals(served.spec.approvals, required_approvals(self.spec, model, env.name)), config_path=cfg_path, config=config,
                config_map=f"{model.name}-serve-{_short(served.spec.version)}-"
                           f"{_content_hash(config, self.bundle.only(model.name))}",
                resources=ResourcesPlan(r.cpu, r.memory, r.cpu_limit, r.memory_limit),
                min_replicas=m.serving.replicas.min, max_replicas=m.serving.replicas.max,
                timeout_s=max(1, int(m.serving.timeout.seconds)), spec_hash=spec_hash, origin=_origin(node),
            ))
        return servings, edges

    def serve_sources(self, fs_configs: tuple[FeatureSetConfig, ...], cluster: bool) -> tuple[DataSourceConfig, ...]:
        """The data contracts a fresh event sent with a prediction request is checked against."""
        names = sorted({fs.source for fs in fs_configs} & {ds.name for _, ds in self.spec.of_kind(DataSource)})
        return tuple(self.data_source(n, cluster) for n in names)

    def local_serving(self, node: SpecNode, model: Model) -> LocalServePlan:
        """`specops serve`: the model's local registry version on the embedded
        defaults, bound to loopback; releases in git name production artifacts."""
        m = model.spec
        fs_configs = tuple(self.feature_set(n) for n in self.feature_set_names(model))
        config = ServeConfig(
            model=model.name, spec_hash=self.lineage_hash(model), artifacts=self.local, work_dir=f"{WORK_ROOT}/{model.name}",
            environment=LOCAL_ENVIRONMENT, role="champion", entity=m.entity, features=self.features_of(model),
            feature_sets=fs_configs, timeout_s=m.serving.timeout.seconds,
            max_feature_age_s=m.serving.max_feature_age.seconds if m.serving.max_feature_age else None,
            policy_bundle=f"{CONFIG_MOUNT}/{model.name}/policy-bundle.json", risk_tier=m.risk.tier,
            sources=self.serve_sources(fs_configs, False),
            registry_aliases=("champion", "candidate"), registry_shadow_alias="candidate" if m.serving.shadow else None,
            host=LOCAL_HOST, port=LOCAL_PORT, online_store=self.online_store(False),
            review=self.review(model, self.lineage_hash(model), cluster=False),
            canary=canary_config(model, 0.0, challenger_alias="candidate"),
            breaker=self.breaker(model, None, None),
            prediction_log=self.prediction_log(model, LOCAL_ENVIRONMENT, cluster=False),
            control=control_channel(model, self.system, cluster=False),
        )
        return LocalServePlan(model=model.name, config_path=f"{CONFIG_MOUNT}/{model.name}/serve.json", config=config,
                              origin=_origin(node))

    def breaker(self, model: Model, environment: str | None, previous: ReleaseRef | None) -> BreakerConfig | None:
        """The circuit breaker of the first ServiceLevel covering the model in
        ``environment`` (None: the local variant, any ServiceLevel) that
        declares one.  The previous model is the champion a canary replaces in
        a cluster, the registry's ``previous`` alias locally."""
        for _, sl in self.spec.service_levels_for(model.name):
            cb = sl.spec.circuit_breaker
            if cb is None or (environment is not None and sl.spec.environments
                              and environment not in sl.spec.environments):
                continue
            wants_previous = cb.fallback == "previous_model"
            return BreakerConfig(
                failure_threshold=cb.failure_threshold, window_s=cb.window.seconds, open_for_s=cb.open_for.seconds,
                half_open_requests=cb.half_open_requests, fallback=cb.fallback,
                previous=previous if wants_previous and environment is not None else None,
                previous_alias="previous" if wants_previous and environment is None else None)
        return None

    def prediction_log(self, model: Model, environment: str, *, cluster: bool) -> PredictionLogConfig:
        """Every request outcome: a write-ahead file under the work dir (the
        pod's volume), compacted to Parquet under the artifact store (cluster)
        or a local folder."""
        root = f"{self.remote.uri.rstrip('/')}/prediction-log/{environment}" if cluster \
            else f"{LOCAL_PREDICTION_LOG}/{environment}"
        return PredictionLogConfig(path=f"{WORK_ROOT}/{model.name}/predlog/{environment}.db", root=root,
                                   compact_every_s=PREDICTION_LOG_COMPACT_S if cluster else None)

    def review(self, model: Model, spec_hash: str, *, cluster: bool) -> ReviewConfig | None:
        labels: DataSource = self.spec.nodes[f"DataSource/{model.spec.label.source}"].resource  # type: ignore[assignment]
        return review_config(model, self.system, labels, spec_hash, cluster=cluster, remote=self.remote.uri)

    def reviews(self) -> tuple[ReviewPlan, ...]:
        out = []
        for node, model in self.spec.of_kind(Model):
            config = self.review(model, self.lineage_hash(model), cluster=False)
            if config is not None:
                out.append(ReviewPlan(model=model.name, config_path=f"{CONFIG_MOUNT}/{model.name}/review.json",
                                      config=config, origin=_origin(node)))
        return tuple(out)

    def monitor_inputs(self, model: Model, environment: str, *, cluster: bool) -> dict[str, Any]:
        """What the monitor's log, skew and performance sections read: the serve config's prediction log,
        the served feature sets and their validated snapshot, the label definition and files, the recall gate."""
        m = model.spec
        label_src: DataSource = self.spec.nodes[f"DataSource/{m.label.source}"].resource  # type: ignore[assignment]
        labels = label_src.spec.labels
        assert labels is not None
        recall = next((g.at for g in m.gates if g.metric == "recall_at_precision" and g.at is not None), None)
        return {
            "predictions": self.prediction_log(model, environment, cluster=cluster),
            "feature_sets": tuple(self.feature_set(n) for n in self.feature_set_names(model)),
            # The validated snapshot is the local pipeline's work folder; a cluster monitor has none (yet).
            "validated": None if cluster else f"{WORK_ROOT}/{model.name}/validated",
            "skew_sample_rate": 0.1 if cluster else 1.0,
            "label": LabelConfig(source=m.label.source, outcome=labels.outcome, positive_value=labels.positive_value,
                                 horizon_s=m.label.horizon.seconds, availability_delay_s=labels.availability_delay.seconds,
                                 timestamp=label_src.spec.timestamp),
            "label_path": self.data_source(m.label.source, cluster).path,
            "label_entity": label_src.spec.entity,
            "precision_at": float(recall) if recall is not None else None,
        }

    def monitor(self, node: SpecNode, model: Model, serving: ServingPlan, pipeline: PipelinePlan | None) -> MonitorPlan | None:
        levels = [sl for _, sl in self.spec.service_levels_for(model.name)
                  if not sl.spec.environments or serving.environment in sl.spec.environments]
        if not levels:
            return None
        objectives: list[ObjectiveConfig] = []
        for sl in levels:
            for o in sl.spec.objectives:
                lo = o.min.seconds if o.metric in DURATION_METRICS and o.min is not None else o.min
                hi = o.max.seconds if o.metric in DURATION_METRICS and o.max is not None else o.max
                objectives.append(ObjectiveConfig(name=o.name, metric=o.metric, min=lo, max=hi, window_s=o.window.seconds,
                                                  actions=o.actions, severity=o.severity, service_level=sl.name))
        drift = levels[0].spec.drift
        notifiers = tuple(sorted({n for sl in levels for n in sl.spec.notify}))
        retrain = pipeline.name if pipeline else ""
        name = f"{model.name}-monitor-{serving.environment}"
        config = MonitorConfig(
            model=model.name, spec_hash=serving.spec_hash, artifacts=self.remote, work_dir=f"{WORK_ROOT}/{model.name}",
            environment=serving.environment, namespace=serving.namespace, objectives=tuple(objectives),
            psi_warning=drift.psi_warning, psi_alert=drift.psi_alert, p_value=drift.p_value, correction=drift.correction,
            persistence=drift.persistence, drift_window_s=drift.window.seconds, notifiers=notifiers,
            retrain_workflow=retrain, retrain_namespace=pipeline.namespace if pipeline else serving.namespace, output=f"{WORK_ROOT}/{model.name}/monitor/{serving.environment}",
            min_replicas=serving.min_replicas,
            notifier_configs=notifier_configs(self.system, notifiers),
            # Incidents and their audit records live in the review store, beside the review audit chain.
            enforcement=EnforcementConfig(store=review_store(self.system, cluster=True)),
            control=control_channel(model, self.system, cluster=True),
            **self.monitor_inputs(model, serving.environment, cluster=True),
        )
        cfg_path = f"{CONFIG_MOUNT}/{model.name}/monitor-{serving.environment}.json"
        step = StepPlan(
            name="monitor", step="monitor", model=model.name, config_path=cfg_path, config=config, cluster_config=config,
            deps=(), outs=(config.output,), after=(), params=(), resources=_DEFAULT_RESOURCES, retries=1,
            deadline_s=600, origin=_origin(node),
        )
        return MonitorPlan(name=name, model=model.name, environment=serving.environment, namespace=serving.namespace,
                           schedule=MONITOR_SCHEDULE, step=step, config_map=f"{model.name}-monitor-config",
                           retrain_template=retrain, origin=_origin(node))

    def local_monitor(self, node: SpecNode, model: Model) -> LocalServePlan | None:
        """`specops monitor`: every objective of the model's ServiceLevels judged over the local
        prediction log and review store (the same evaluation the cluster's CronWorkflow runs)."""
        levels = [sl for _, sl in self.spec.service_levels_for(model.name)]
        if not levels:
            return None
        seen: dict[str, ObjectiveConfig] = {}
        for sl in levels:
            for o in sl.spec.objectives:
                lo = o.min.seconds if o.metric in DURATION_METRICS and o.min is not None else o.min
                hi = o.max.seconds if o.metric in DURATION_METRICS and o.max is not None else o.max
                seen.setdefault(o.name, ObjectiveConfig(name=o.name, metric=o.metric, min=lo, max=hi,
                                                        window_s=o.window.seconds, actions=o.actions,
                                                        severity=o.severity, service_level=sl.name))
        drift = levels[0].spec.drift
        work = f"{WORK_ROOT}/{model.name}"
        config = MonitorConfig(
            model=model.name, spec_hash=self.lineage_hash(model), artifacts=self.local, work_dir=work,
            environment=LOCAL_ENVIRONMENT, namespace="", objectives=tuple(seen.values()),
            psi_warning=drift.psi_warning, psi_alert=drift.psi_alert, p_value=drift.p_value, correction=drift.correction,
            persistence=drift.persistence, drift_window_s=drift.window.seconds, notifiers=(),
            retrain_workflow="", retrain_namespace="", output=f"{work}/monitor/{LOCAL_ENVIRONMENT}", min_replicas=0,
            # The Parquet root the predictor's log compacts to (read with its write-ahead store: ``predictions``).
            prediction_log=f"{LOCAL_PREDICTION_LOG}/{LOCAL_ENVIRONMENT}",
            review=self.review(model, self.lineage_hash(model), cluster=False),
            # Locally a page prints (no webhook secrets on a laptop); rollback and retrain act on the local registry.
            notifier_configs=tuple(NotifierConfig(name=n, type="stdout")
                                   for n in sorted({n for sl in levels for n in sl.spec.notify})),
            enforcement=EnforcementConfig(store=review_store(self.system, cluster=False), mode="local"),
            **self.monitor_inputs(model, LOCAL_ENVIRONMENT, cluster=False),
        )
        return LocalServePlan(model=model.name, config_path=f"{CONFIG_MOUNT}/{model.name}/monitor.json", config=config,
                              origin=_origin(node))

    def slos(self, model: Model, serving: ServingPlan) -> list[SloPlan]:
        """One SloPlan per ServiceLevel covering the model where it is served in the cloud."""
        out: list[SloPlan] = []
        for node, sl in self.spec.service_levels_for(model.name):
            if sl.spec.environments and serving.environment not in sl.spec.environments:
                continue
            objectives = []
            for i, o in enumerate(sl.spec.objectives):
                bound = o.max if o.max is not None else o.min
                value = bound.seconds if o.metric in DURATION_METRICS else float(bound)  # type: ignore[union-attr,arg-type]
                objectives.append(ObjectivePlan(
                    name=o.name, metric=o.metric, direction="max" if o.max is not None else "min", bound=float(value),
                    window_ms=o.window.millis, actions=o.actions, severity=o.severity,
                    origin=Origin(node.id, node.document.file, node.location("spec", "objectives", i).line)))
            out.append(SloPlan(name=sl.name, model=model.name, environment=serving.environment,
                               namespace=serving.namespace, predictor=serving.name, objectives=tuple(objectives),
                               origin=_origin(node), notify=sl.spec.notify, min_replicas=serving.min_replicas))
        return out

    def online_store(self, cluster: bool) -> OnlineStoreConfig:
        """The System's online store; local runs use the embedded default unless it is a credential-free file."""
        store = self.system.spec.online_store
        if store.backend == "memory":
            return OnlineStoreConfig(backend="memory", url="memory://")
        if not cluster and not (store.backend == "sqlite" and store.url):
            return OnlineStoreConfig(backend="sqlite", url=LOCAL_ONLINE_STORE)
        if store.connection is not None:
            return OnlineStoreConfig(backend=store.backend, url_env=ONLINE_STORE_ENV)
        return OnlineStoreConfig(backend=store.backend, url=store.url or LOCAL_ONLINE_STORE)

    @staticmethod
    def consumer(ds: DataSource) -> StreamConsumerConfig:
        st = ds.spec.stream
        assert st is not None
        return StreamConsumerConfig(
            ack_wait_s=st.ack_wait.seconds, max_deliver=st.max_deliver, backoff_s=tuple(b.seconds for b in st.backoff),
            max_ack_pending=st.max_ack_pending,
            dead_letter_subject=st.dead_letter_subject or f"specops.dead-letter.{ds.name}",
            dead_letter_stream=f"{st.stream}_DEAD_LETTER",
        )

    def online_feeds(self, fs: FeatureSet) -> list[str]:
        """The streams that fill a feature set's online store: its own source when that is a
        stream (so switching a file source to a stream is a DataSource edit alone), and online.stream."""
        feeds: list[str] = []
        if not fs.spec.online.enabled:
            return feeds
        kind, source = fs.spec.source.ref
        node = self.spec.get("DataSource", source) if kind == "DataSource" else None
        if node is not None and node.resource.spec.type == "stream":  # type: ignore[attr-defined]
            feeds.append(source)
        if fs.spec.online.stream and fs.spec.online.stream not in feeds:
            feeds.append(fs.spec.online.stream)
        return feeds

    def ingesters(self, servings: list[ServingPlan], envs: dict[str, EnvironmentPlan]) -> list[IngesterPlan]:
        served: dict[str, set[str]] = {}
        for sv in servings:
            model: Model = self.spec.nodes[f"Model/{sv.model}"].resource  # type: ignore[assignment]
            for fs_name in self.feature_set_names(model):
                served.setdefault(fs_name, set()).add(sv.environment)
        fed: dict[str, list[str]] = {}  # stream data source -> served feature sets it feeds
        for _, fs in self.spec.of_kind(FeatureSet):
            if fs.name in served:
                for stream in self.online_feeds(fs):
                    fed.setdefault(stream, []).append(fs.name)
        out: list[IngesterPlan] = []
        for stream in sorted(fed):
            ds_node = self.spec.nodes[f"DataSource/{stream}"]
            src: DataSource = ds_node.resource  # type: ignore[assignment]
            fs_names = sorted(fed[stream])
            secret = src.spec.stream.credentials.secret_ref if src.spec.stream and src.spec.stream.credentials else None
            spec_hash = _combined_hash([self.hashes[ds_node.id], self.hashes[self.system_node.id],
                                        *(self.hashes[f"FeatureSet/{n}"] for n in fs_names)])
            name = f"ingest-{stream}"

            def config(cluster: bool) -> IngestConfig:
                return IngestConfig(
                    model=stream, spec_hash=spec_hash, artifacts=self.remote if cluster else self.local,
                    work_dir=f"{WORK_ROOT}/{name}", source=self.data_source(stream, cluster),
                    feature_sets=tuple(self.feature_set(n) for n in fs_names), online_store=self.online_store(cluster),
                    consumer=self.consumer(src))

            for env_name in sorted({e for n in fs_names for e in served[n]}):
                env = envs[env_name]
                out.append(IngesterPlan(
                    name=name, environment=env.name, namespace=env.namespace,
                    config_path=f"{CONFIG_MOUNT}/{name}/ingest.json", config=config(True),
                    config_map=f"{name}-config", stream_secret=(secret.name, secret.key) if secret else None,
                    origin=_origin(ds_node), local_config=config(False), feature_sets=tuple(fs_names)))
        return out

    # ------------------------------------------------------------ sample data

    @cached_property
    def sample_sources(self) -> set[str]:
        sample = self.system.spec.sample_data
        return {sample.events, sample.labels} if sample else set()

    @cached_property
    def sample_end(self) -> datetime | None:
        """The end of the generated period: the freshness reference of local runs over sample data."""
        sample = self.system.spec.sample_data
        if sample is None:
            return None
        start = datetime.combine(sample.start, time(), tzinfo=timezone.utc)
        return start + timedelta(seconds=sample.duration.seconds)

    def data_steps(self) -> tuple[StepPlan, ...]:
        """generate-data, a DVC stage for local runs only (production pipelines read real data)."""
        sample = self.system.spec.sample_data
        if sample is None:
            return ()
        events = self.data_source(sample.events, False)
        labels = self.data_source(sample.labels, False)
        label_spec = self.spec.nodes[f"DataSource/{sample.labels}"].resource.spec.labels  # type: ignore[attr-defined]
        drift, faults = sample.drift, sample.faults
        generator = GeneratorConfig(
            seed=sample.seed, start=datetime.combine(sample.start, time(), tzinfo=timezone.utc),
            days=sample.duration.seconds / 86400, assets=sample.assets, mean_interval_s=sample.mean_interval.seconds,
            positive_rate=sample.positive_rate or (label_spec.expected_positive_rate if label_spec else None) or 0.03,
            degradation_s=sample.degradation.seconds, label_delay_s=labels.availability_delay_s or 0.0,
            recalibration_at_day=drift.recalibration_at.seconds / 86400 if drift.recalibration_at else None,
            recalibration_fraction=drift.recalibration_fraction, recalibration_offset=drift.recalibration_offset,
            new_asset_type=drift.new_asset_type,
            new_asset_type_at_day=drift.new_asset_type_at.seconds / 86400 if drift.new_asset_type_at else None,
            new_assets=drift.new_assets, seasonal_amplitude=drift.seasonal_amplitude,
            null_rate=faults.null_rate, duplicate_rate=faults.duplicate_rate, out_of_order_rate=faults.out_of_order_rate,
            late_rate=faults.late_rate, out_of_range_rate=faults.out_of_range_rate,
            # Late events arrive well past the allowed lateness, so the late policy really triggers.
            late_delay_s=3 * events.allowed_lateness_s if events.allowed_lateness_s else 6 * 3600.0,
        )
        name = "sample-data"
        config = GenerateDataConfig(model=name, spec_hash=_combined_hash(
            self.hashes[i] for i in (self.system.id, f"DataSource/{sample.events}", f"DataSource/{sample.labels}")),
            artifacts=self.local, work_dir=".", generator=generator, events=events, labels=labels)
        outs = tuple(sorted({self._dep_path(events.path or ""), self._dep_path(labels.path or "")}))
        return (StepPlan(
            name="generate-data", step="generate-data", model=name, config_path=f"{CONFIG_MOUNT}/{name}/generate-data.json",
            config=config, cluster_config=config, deps=(), outs=outs, after=(), params=(), resources=_DEFAULT_RESOURCES,
            retries=0, deadline_s=STEP_DEADLINE_S, origin=_origin(self.system_node)),)

    def materialize_steps(self) -> tuple[StepPlan, ...]:
        """materialize-online per model with online features, a DVC stage for local runs only:
        on one machine the event stream is a replay of the validated files (in a cluster the
        ingester fills the store from the stream)."""
        out: list[StepPlan] = []
        for node, model in sorted(self.spec.of_kind(Model), key=lambda nm: nm[1].name):
            names = [n for n in self.feature_set_names(model)
                     if self.spec.nodes[f"FeatureSet/{n}"].resource.spec.online.enabled]  # type: ignore[attr-defined]
            if not names:
                continue
            work = f"{WORK_ROOT}/{model.name}"
            feature_sets = tuple(self.feature_set(n) for n in names)
            config = MaterializeOnlineConfig(
                model=model.name, artifacts=self.local, work_dir=work,
                spec_hash=_combined_hash(self.hashes[f"FeatureSet/{n}"] for n in names),
                feature_sets=feature_sets, input=f"{work}/validated", online_store=self.online_store(False),
                output=f"{work}/reports/online.json")
            out.append(StepPlan(
                name="materialize-online", step="materialize-online", model=model.name,
                config_path=f"{CONFIG_MOUNT}/{model.name}/materialize-online.json", config=config, cluster_config=config,
                deps=(f"{work}/validated",), outs=(f"{work}/reports/online.json",), after=(), params=(),
                resources=_DEFAULT_RESOURCES, retries=0, deadline_s=STEP_DEADLINE_S, origin=_origin(node)))
        return tuple(out)

    # ------------------------------------------------------------------ system

    def manual_sync_environments(self) -> set[str]:
        """Environments a risk policy puts on manual sync because it selects a model served there."""
        out: set[str] = set()
        models = [m for _, m in self.spec.of_kind(Model)]
        for _, policy in self.spec.of_kind(RiskPolicy):
            for m in models:
                if selects(policy, m):
                    out.update(e for e in policy.spec.manual_sync if e in self.spec.deployed_environments(m.name))
        return out

    @cached_property
    def bundle(self) -> PolicyBundle:
        """Every prediction rule, computed once (each serving's ConfigMap name hashes its part)."""
        models = [m for _, m in self.spec.of_kind(Model)]
        rules: list[PredictionRule] = []
        for _, policy in self.spec.of_kind(RiskPolicy):
            selected = tuple(sorted(m.name for m in models if selects(policy, m)))
            for rule in policy.spec.rules:
                if rule.target != "prediction" or not selected:
                    continue
                rules.append(PredictionRule(id=rule.id, policy=policy.name, message=rule.message, severity=rule.severity,
                                            expression=rule.expression, when=rule.when, action=rule.action,  # type: ignore[arg-type]
                                            models=selected))
        return PolicyBundle(rules=tuple(sorted(rules, key=lambda r: r.id)))

    def build(self) -> SystemPlan:
        s = self.system.spec
        sys_origin = _origin(self.system_node)
        manual = self.manual_sync_environments()
        envs = {
            e.name: EnvironmentPlan(
                name=e.name, kind=e.kind, namespace=e.namespace, order=e.promotion_order, production=e.production,
                cluster=e.cluster, cluster_selector=tuple(sorted(e.cluster_selector.match_labels.items())) if e.cluster_selector else (),
                automated=e.sync.automated and e.name not in manual, prune=e.sync.prune, self_heal=e.sync.self_heal,
                origin=sys_origin)
            for e in s.environments
        }
        cloud = sorted((e for e in envs.values() if e.kind == "cloud"), key=lambda e: e.order)
        pipelines: list[PipelinePlan] = []
        servings: list[ServingPlan] = []
        edges: list[EdgePlan] = []
        monitors: list[MonitorPlan] = []
        slos: list[SloPlan] = []
        local_servings: list[LocalServePlan] = []
        local_monitors: list[LocalServePlan] = []
        for node, model in self.spec.of_kind(Model):
            pipeline = self.pipeline(node, model, cloud[0]) if cloud else None
            if pipeline:
                pipelines.append(pipeline)
                local_servings.append(self.local_serving(node, model))
                if (local_monitor := self.local_monitor(node, model)) is not None:
                    local_monitors.append(local_monitor)
            sv, ed = self.servings(node, model, envs)
            servings.extend(sv)
            edges.extend(ed)
            for serving in sv:
                mon = self.monitor(node, model, serving, pipeline)
                if mon:
                    monitors.append(mon)
                slos.extend(self.slos(model, serving))
        return SystemPlan(
            data_steps=(*self.data_steps(), *self.materialize_steps()),
            name=self.system.name, repo_url=s.gitops.repo_url, revision=s.gitops.target_revision,
            generated_dir=s.gitops.path, image=s.runtime.reference, image_pull_secret=s.runtime.pull_secret_name,
            service_account=s.service_account, artifacts_uri=s.artifacts.uri,
            artifacts_secret=(s.artifacts.credentials.secret_ref.name, s.artifacts.credentials.secret_ref.key)
            if s.artifacts.credentials else None,
            environments=tuple(sorted(envs.values(), key=lambda e: (e.order, e.name))),
            pipelines=tuple(pipelines), monitors=tuple(monitors), servings=tuple(servings),
            ingesters=tuple(self.ingesters(servings, envs)), edges=tuple(edges), policy_bundle=self.bundle,
            online_store_secret=(s.online_store.connection.secret_ref.name, s.online_store.connection.secret_ref.key)
            if s.online_store.connection else None,
            resource_hashes=tuple(sorted((i, self.spec.nodes[i].document.file, h) for i, h in self.hashes.items())),
            origin=sys_origin, admission=build_admission(self.spec),
            secret_refs=secret_refs(self.spec),
            slos=tuple(sorted(slos, key=lambda p: (p.environment, p.name))),
            local_servings=tuple(local_servings),
            local_monitors=tuple(local_monitors),
            reviews=self.reviews(),
            edge_trusted_key=_key_ref(s.edge.trusted_key),
            edge_signing_secret=(s.edge.signing_key.secret_ref.name, s.edge.signing_key.secret_ref.key)
            if s.edge.signing_key else None,
        )


# The key under which a docker-registry Secret holds its credentials.
DOCKER_CONFIG_KEY = ".dockerconfigjson"


def _walk_secret_refs(value: Any) -> Iterable[SecretRef]:
    if isinstance(value, SecretRef):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _walk_secret_refs(getattr(value, name))
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _walk_secret_refs(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _walk_secret_refs(item)


def secret_refs(spec: ResolvedSpec) -> tuple[SecretRefPlan, ...]:
    """Every Secret key the specs reference, found by walking the typed
    resources (so a secretRef added to any kind is covered), merged by
    (name, key) and sorted."""
    found: dict[tuple[str, str], set[str]] = {}
    for node_id in sorted(spec.nodes):
        resource = spec.nodes[node_id].resource
        for ref in _walk_secret_refs(resource):
            found.setdefault((ref.name, ref.key), set()).add(node_id)
        if isinstance(resource, System) and resource.spec.runtime.pull_secret_name:
            found.setdefault((resource.spec.runtime.pull_secret_name, DOCKER_CONFIG_KEY), set()).add(node_id)
    return tuple(SecretRefPlan(name, key, tuple(sorted(ids))) for (name, key), ids in sorted(found.items()))


def _key_ref(source: KeySource | None) -> KeyRefPlan | None:
    if source is None:
        return None
    if source.config_map_ref is not None:
        return KeyRefPlan("configMap", source.config_map_ref.name, source.config_map_ref.key)
    assert source.secret_ref is not None  # KeySource holds exactly one
    return KeyRefPlan("secret", source.secret_ref.name, source.secret_ref.key)


def _content_hash(*models: Any) -> str:
    """A short digest of configs: names of immutable ConfigMaps change whenever their content does."""
    text = "\n".join(m.model_dump_json() for m in models)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _short(version: str) -> str:
    """A version as a DNS-1123 fragment: 1.4.0 -> 1-4-0."""
    out = "".join(ch if ch.isalnum() else "-" for ch in version.lower()).strip("-")
    return out[:40] or "v"


def build_plan(spec: ResolvedSpec) -> SystemPlan:
    """The typed plan of the whole system.  Call only on a spec that linted without errors."""
    return _Builder(spec).build()


def canary_config(model: Model, percent: float, challenger_alias: str | None = None) -> CanaryConfig | None:
    """The model's canary steps and rollback analysis (spec defaults when it
    declares steps but no analysis); None when it declares no canary."""
    canary = model.spec.serving.canary
    if canary is None:
        return None
    from compiler.spec.model import CanaryAnalysis

    a = canary.analysis or CanaryAnalysis()
    return CanaryConfig(steps=canary.steps, percent=percent, challenger_alias=challenger_alias,  # type: ignore[arg-type]
                        interval_s=a.interval.seconds, max_error_rate=a.max_error_rate,
                        max_latency_p99_ms=a.max_latency_p99_ms, max_score_psi=a.max_score_psi,
                        min_requests=a.min_requests)
