"""Argo CD: the AppProject, one Application per cloud environment and one
ApplicationSet per edge environment, all in ``generated/argocd/``.

Bootstrap: ``generated/argocd/`` holds nothing but these Kubernetes
manifests.  It is synced by the root Application that ``terraform/`` creates
(modules/argocd), or applied by hand (``kubectl apply -f generated/argocd/``).
The root Application lives in its own bootstrap AppProject, owned by
Terraform and limited to Argo CD's kinds in Argo CD's namespace, and never
prunes: no Application synced from ``generated/<env>/`` can widen its own
project.  From then on Argo CD reconciles each environment from git:

* cloud environment ``<env>`` -> Application ``<system>-<env>`` syncing
  ``generated/<env>/`` (nothing but Kubernetes manifests, non-recursive) into
  the environment's cluster and namespace;
* edge environment ``<env>`` -> ApplicationSet ``<system>-<env>`` whose
  cluster generator selects the edge gateways registered in Argo CD by the
  environment's ``clusterSelector`` labels and creates one Application
  ``<cluster>-<system>-<env>`` per gateway, syncing ``generated/<env>/``.

Automated sync (with the environment's prune / self-heal) where the System
spec allows it; manual sync otherwise.  The one field the runtime may change
in a cluster, an InferenceService's canary traffic (an automated rollback sets
it to 0), is the only ``ignoreDifferences`` entry; with
``ApplyOutOfSyncOnly=true`` neither self-heal nor an unrelated sync undoes a
rollback, while a pull request that changes the InferenceService (the next
canary step, or the revert) is applied (see SYNC_OPTIONS).

``check_consistency`` checks a whole compile's artifacts against these
Applications (kinds allowed by the project, one owner per manifest, waves).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any, NamedTuple

import yaml

from compiler.emit.argocd_models import (
    API_VERSION,
    Application,
    ApplicationDestination,
    ApplicationSet,
    ApplicationSetSpec,
    ApplicationSetTemplate,
    ApplicationSource,
    ApplicationSpec,
    ApplicationTemplateMeta,
    AppProject,
    AppProjectSpec,
    Backoff,
    ClusterGenerator,
    Generator,
    GroupKind,
    LabelSelector,
    ObjectMeta,
    ResourceIgnoreDifferences,
    RetryStrategy,
    SyncPolicy,
    SyncPolicyAutomated,
)
from compiler.emit.artifact import Artifact
from compiler.emit.conventions import ANNOTATION_SOURCE, CANARY_POINTER, SYNC_WAVE, WAVES, labels
from compiler.emit.layout import argocd_dir, environment_dir
from compiler.emit.serialize import yaml_artifact
from compiler.plan import EnvironmentPlan, SystemPlan

__all__ = [
    "ALLOWED_KINDS",
    "ARGOCD_NAMESPACE",
    "IGNORE_DIFFERENCES",
    "IN_CLUSTER",
    "IN_CLUSTER_SERVER",
    "NAME",
    "RESOURCES_FINALIZER",
    "SYNC_OPTIONS",
    "AllowedKind",
    "application_name",
    "build_application",
    "build_application_set",
    "build_project",
    "check_consistency",
    "destination",
    "destination_allowed",
    "emit",
    "ignored_by_argocd",
]

NAME = "argocd"

ARGOCD_NAMESPACE = "argocd"  # where Argo CD (and its Applications, AppProjects) lives
IN_CLUSTER = "in-cluster"  # Argo CD's name for the cluster it runs in
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io"  # deleting an Application deletes what it deployed


class AllowedKind(NamedTuple):
    group: str  # "" is the core API group
    kind: str
    namespaced: bool


# Exactly the kinds the backends generate into generated/<env>/, and so all
# the AppProject permits.  A new kind in any backend must be added here (the
# consistency check fails until it is), which makes widening the project a
# reviewed change.  ValidatingAdmissionPolicy(Binding) come from policies/.
ALLOWED_KINDS: tuple[AllowedKind, ...] = (
    AllowedKind("", "Namespace", False),
    AllowedKind("admissionregistration.k8s.io", "ValidatingAdmissionPolicy", False),
    AllowedKind("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding", False),
    AllowedKind("", "ServiceAccount", True),
    AllowedKind("rbac.authorization.k8s.io", "Role", True),
    AllowedKind("rbac.authorization.k8s.io", "RoleBinding", True),
    AllowedKind("", "ConfigMap", True),
    AllowedKind("apps", "Deployment", True),
    AllowedKind("argoproj.io", "WorkflowTemplate", True),
    AllowedKind("argoproj.io", "CronWorkflow", True),
    AllowedKind("serving.kserve.io", "InferenceService", True),
    AllowedKind("monitoring.coreos.com", "PrometheusRule", True),
    AllowedKind("monitoring.coreos.com", "ServiceMonitor", True),
    AllowedKind("", "PersistentVolumeClaim", True),
)

SYNC_OPTIONS: tuple[str, ...] = (
    # Apply only out-of-sync objects.  A rolled-back InferenceService (canary
    # traffic set to 0 by the runtime) stays in sync because that one field
    # is in ignoreDifferences, so syncing any other change never re-applies
    # it and never undoes the rollback.  A pull request that changes the
    # InferenceService itself (the next canary step -- visible to the diff
    # through the specops.dev/canary-percent annotation, since the traffic
    # field itself is ignored -- or the revert of a rolled-back release)
    # makes it out of sync and is applied whole, canaryTrafficPercent included.
    #
    # Deliberately NOT RespectIgnoreDifferences=true: it keeps the live value
    # of ignored fields on existing objects, so a canary-step pull request
    # would never reach the cluster, and a new canary on an InferenceService
    # that had none would keep "no canaryTrafficPercent" -- a full rollout.
    "ApplyOutOfSyncOnly=true",
    "ServerSideApply=true",
    # Prune removed resources only after every wave of the sync succeeded: a
    # renamed InferenceService or Deployment serves before the old one goes,
    # and RBAC/config are removed only after the workloads that use them.
    "PruneLast=true",
)

# The only fields the runtime may change in a cluster.  Nothing else: any
# other drift is a real difference that sync (or self-heal) must correct.
IGNORE_DIFFERENCES: tuple[ResourceIgnoreDifferences, ...] = (
    ResourceIgnoreDifferences(group="serving.kserve.io", kind="InferenceService", json_pointers=(CANARY_POINTER,)),
)

# Transient failures (a CRD's webhook not ready yet, an API server restart)
# are retried with backoff instead of leaving the sync failed.
SYNC_RETRY = RetryStrategy(limit=5, backoff=Backoff(duration="10s", factor=2, max_duration="3m"))

_ARGOCD_KINDS = ("AppProject", "Application", "ApplicationSet")


# ---------------------------------------------------------------- builders


def application_name(plan: SystemPlan, env: EnvironmentPlan) -> str:
    """The Application (cloud) or ApplicationSet (edge) name of an environment."""
    return f"{plan.name}-{env.name}"


def destination(env: EnvironmentPlan) -> ApplicationDestination:
    """Where an environment's Application deploys: ``in-cluster`` (also the
    default) -> the local API server; an https URL -> that server; anything
    else -> a cluster registered in Argo CD under that name.  Edge
    environments deploy to each generated cluster's server."""
    if env.kind == "edge":
        return ApplicationDestination(server="{{server}}", namespace=env.namespace)
    cluster = env.cluster or IN_CLUSTER
    if cluster == IN_CLUSTER:
        return ApplicationDestination(server=IN_CLUSTER_SERVER, namespace=env.namespace)
    if cluster.startswith("https://"):
        return ApplicationDestination(server=cluster, namespace=env.namespace)
    return ApplicationDestination(name=cluster, namespace=env.namespace)


def _project_destination(env: EnvironmentPlan) -> ApplicationDestination:
    if env.kind == "edge":  # any selected gateway, but only the environment's namespace
        return ApplicationDestination(server="*", namespace=env.namespace)
    return destination(env)


def _environments(plan: SystemPlan) -> list[EnvironmentPlan]:
    return sorted(plan.environments, key=lambda e: (e.order, e.name))


def build_project(plan: SystemPlan) -> AppProject:
    envs = _environments(plan)
    dests: list[ApplicationDestination] = []
    for env in envs:
        d = _project_destination(env)
        if d not in dests:
            dests.append(d)
    annotations = {ANNOTATION_SOURCE: str(plan.origin)} if plan.origin else None
    return AppProject(
        metadata=ObjectMeta(name=plan.name, namespace=ARGOCD_NAMESPACE, labels=labels(plan.name), annotations=annotations),
        spec=AppProjectSpec(
            description=f"SpecOps system {plan.name}: generated manifests from {plan.repo_url}, nothing else",
            source_repos=(plan.repo_url,),
            destinations=tuple(dests),
            cluster_resource_whitelist=tuple(GroupKind(group=k.group, kind=k.kind) for k in ALLOWED_KINDS if not k.namespaced),
            namespace_resource_whitelist=tuple(GroupKind(group=k.group, kind=k.kind) for k in ALLOWED_KINDS if k.namespaced),
        ),
    )


def _application_spec(plan: SystemPlan, env: EnvironmentPlan) -> ApplicationSpec:
    automated = SyncPolicyAutomated(prune=env.prune, self_heal=env.self_heal) if env.automated else None
    return ApplicationSpec(
        project=plan.name,
        source=ApplicationSource(repo_url=plan.repo_url, target_revision=plan.revision, path=environment_dir(plan, env.name)),
        destination=destination(env),
        sync_policy=SyncPolicy(automated=automated, sync_options=SYNC_OPTIONS, retry=SYNC_RETRY),
        ignore_differences=IGNORE_DIFFERENCES,
    )


def _annotations(env: EnvironmentPlan) -> dict[str, str]:
    # Waves order the Applications by promotion order when they are synced
    # together (e.g. by a parent Application a platform team may add).
    return {SYNC_WAVE: str(env.order), ANNOTATION_SOURCE: str(env.origin)}


def build_application(plan: SystemPlan, env: EnvironmentPlan) -> Application:
    assert env.kind == "cloud", env
    return Application(
        metadata=ObjectMeta(
            name=application_name(plan, env), namespace=ARGOCD_NAMESPACE, labels=labels(plan.name, env.name),
            annotations=_annotations(env), finalizers=(RESOURCES_FINALIZER,),
        ),
        spec=_application_spec(plan, env),
    )


def build_application_set(plan: SystemPlan, env: EnvironmentPlan) -> ApplicationSet:
    assert env.kind == "edge", env
    return ApplicationSet(
        metadata=ObjectMeta(name=application_name(plan, env), namespace=ARGOCD_NAMESPACE,
                            labels=labels(plan.name, env.name), annotations=_annotations(env)),
        spec=ApplicationSetSpec(
            go_template=False,
            generators=(Generator(clusters=ClusterGenerator(selector=LabelSelector(match_labels=dict(env.cluster_selector)))),),
            template=ApplicationSetTemplate(
                metadata=ApplicationTemplateMeta(
                    name=f"{{{{name}}}}-{application_name(plan, env)}", labels=labels(plan.name, env.name),
                    annotations=_annotations(env), finalizers=(RESOURCES_FINALIZER,),
                ),
                spec=_application_spec(plan, env),
            ),
        ),
    )


def emit(plan: SystemPlan) -> Iterator[Artifact]:
    out = argocd_dir(plan)
    system = f"System/{plan.name}"
    yield yaml_artifact(f"{out}/appproject.yaml", build_project(plan), [system], NAME)
    for env in _environments(plan):
        if env.kind == "edge":
            yield yaml_artifact(f"{out}/applicationset-{env.name}.yaml", build_application_set(plan, env), [system], NAME)
        else:
            yield yaml_artifact(f"{out}/application-{env.name}.yaml", build_application(plan, env), [system], NAME)


# ------------------------------------------------------------- consistency


def ignored_by_argocd(group: str, kind: str, pointer: str) -> bool:
    """Whether a JSON pointer in an object of this group/kind is covered by ``IGNORE_DIFFERENCES``."""
    return any(
        rule.group == group and rule.kind == kind and (pointer == p or pointer.startswith(p + "/"))
        for rule in IGNORE_DIFFERENCES
        for p in rule.json_pointers
    )


def destination_allowed(dest: Mapping[str, Any], allowed: Iterable[Mapping[str, Any]]) -> bool:
    """Argo CD's project check: some project destination's server (or name)
    and namespace globs match.  A templated ``{{server}}`` matches only ``*``."""
    namespace = dest.get("namespace") or ""
    for d in allowed:
        if not fnmatchcase(namespace, d.get("namespace") or ""):
            continue
        for key in ("server", "name"):
            if dest.get(key) and d.get(key) and fnmatchcase(dest[key], d[key]):
                return True
    return False


def _documents(artifact: Artifact) -> tuple[list[Any], str | None]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        docs = [d for d in yaml.load_all(artifact.content.decode("utf-8"), Loader=loader) if d is not None]
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return [], f"{artifact.path}: not valid YAML ({exc.__class__.__name__})"
    return docs, None


def _is_manifest(doc: Any) -> bool:
    return (isinstance(doc, dict) and isinstance(doc.get("apiVersion"), str) and isinstance(doc.get("kind"), str)
            and isinstance(doc.get("metadata"), dict) and isinstance(doc["metadata"].get("name"), str))


def _cluster_key(dest: Mapping[str, Any], env: str) -> str:
    if dest.get("server") == "{{server}}":
        return f"edge:{env}"
    if dest.get("name") == IN_CLUSTER or dest.get("server") == IN_CLUSTER_SERVER:
        return f"server:{IN_CLUSTER_SERVER}"
    return f"server:{dest['server']}" if dest.get("server") else f"name:{dest.get('name')}"


class _App(NamedTuple):
    label: str  # "Application/x" or "ApplicationSet/x"
    file: str
    metadata: Mapping[str, Any]  # of the Application (or the ApplicationSet's template)
    spec: Mapping[str, Any]


def _argocd_objects(plan: SystemPlan, artifacts: Sequence[Artifact],
                    problems: list[str]) -> tuple[list[Mapping[str, Any]], list[_App]]:
    folder = argocd_dir(plan)
    projects: list[Mapping[str, Any]] = []
    apps: list[_App] = []
    for a in artifacts:
        if posixpath.dirname(a.path) != folder and not a.path.startswith(folder + "/"):
            continue
        if posixpath.dirname(a.path) != folder or not a.path.endswith(".yaml"):
            problems.append(f"{a.path}: {folder}/ holds only top-level .yaml Argo CD manifests")
            continue
        docs, error = _documents(a)
        if error:
            problems.append(error)
        for doc in docs:
            if not _is_manifest(doc) or doc["apiVersion"] != API_VERSION or doc["kind"] not in _ARGOCD_KINDS:
                problems.append(f"{a.path}: {folder}/ holds only Argo CD AppProjects, Applications and ApplicationSets")
                continue
            name = doc["metadata"]["name"]
            spec = doc.get("spec") or {}
            if doc["kind"] == "AppProject":
                projects.append(doc)
            elif doc["kind"] == "Application":
                apps.append(_App(f"Application/{name}", a.path, doc["metadata"], spec))
            else:
                template = spec.get("template") or {}
                apps.append(_App(f"ApplicationSet/{name}", a.path, template.get("metadata") or {}, template.get("spec") or {}))
    return projects, apps


def _check_app(plan: SystemPlan, app: _App, project: Mapping[str, Any] | None,
               problems: list[str]) -> EnvironmentPlan | None:
    """Checks one Application (or ApplicationSet template); returns the environment it deploys."""
    envs = {environment_dir(plan, e.name): e for e in plan.environments}
    spec = app.spec
    source = spec.get("source") or {}
    dest = spec.get("destination") or {}
    where = f"{app.file}: {app.label}"
    env = envs.get(source.get("path", ""))
    if env is None:
        problems.append(f"{where}: path {source.get('path')!r} is not generated/<env> of an environment")
        return None
    if (source.get("repoURL"), source.get("targetRevision")) != (plan.repo_url, plan.revision):
        problems.append(f"{where}: source is not {plan.repo_url}@{plan.revision}")
    if spec.get("project") != plan.name:
        problems.append(f"{where}: project {spec.get('project')!r} is not {plan.name!r}")
    expected_dest = destination(env).model_dump(mode="json", by_alias=True, exclude_none=True)
    if dict(dest) != expected_dest:
        problems.append(f"{where}: destination {dict(dest)} is not {expected_dest} (environment {env.name})")
    if project is not None and not destination_allowed(dest, (project.get("spec") or {}).get("destinations") or ()):
        problems.append(f"{where}: destination {dict(dest)} is not allowed by AppProject/{plan.name}")
    if (env.kind == "edge") != app.label.startswith("ApplicationSet/"):
        needed = "an ApplicationSet" if env.kind == "edge" else "an Application"
        problems.append(f"{where}: a {env.kind} environment needs {needed}")
    sync = spec.get("syncPolicy") or {}
    automated = sync.get("automated")
    if env.automated != (automated is not None):
        problems.append(f"{where}: environment {env.name} wants {'automated' if env.automated else 'manual'} sync")
    elif automated is not None and (automated.get("prune"), automated.get("selfHeal")) != (env.prune, env.self_heal):
        problems.append(f"{where}: prune/selfHeal differ from environment {env.name}")
    options = tuple(sync.get("syncOptions") or ())
    if "ApplyOutOfSyncOnly=true" not in options:
        problems.append(f"{where}: an unrelated sync would re-apply a rolled-back InferenceService (no ApplyOutOfSyncOnly=true)")
    if "RespectIgnoreDifferences=true" in options:
        problems.append(f"{where}: RespectIgnoreDifferences=true would stop canary-step pull requests from reaching the cluster")
    expected_ignore = [r.model_dump(mode="json", by_alias=True, exclude_none=True) for r in IGNORE_DIFFERENCES]
    if list(spec.get("ignoreDifferences") or ()) != expected_ignore:
        problems.append(f"{where}: ignoreDifferences must be exactly {expected_ignore}")
    if (app.metadata.get("annotations") or {}).get(SYNC_WAVE) != str(env.order):
        problems.append(f"{where}: sync wave is not the promotion order {env.order}")
    return env


def check_consistency(plan: SystemPlan, artifacts: Sequence[Artifact]) -> list[str]:
    """Problems (empty when consistent) between the Argo CD artifacts and every
    other artifact of a compile:

    * ``generated/argocd/`` holds one AppProject named after the system and
      only Argo CD manifests; every environment has exactly one Application
      (or ApplicationSet) whose path is ``generated/<env>``, whose destination
      is the environment's and allowed by the project, with the environment's
      sync mode and exactly the canary ``ignoreDifferences``;
    * every file in ``generated/<env>/`` is a top-level ``.yaml`` file of
      Kubernetes manifests (Argo CD applies every file there, and none in
      subfolders), of a kind the AppProject allows, in the environment's
      namespace, with the sync wave of its kind, and no object is managed twice
      in one cluster;
    * no Kubernetes manifest lies elsewhere under ``generated/`` (it would
      belong to no Application).

    Pure: reads nothing but the artifacts' bytes."""
    problems: list[str] = []
    projects, apps = _argocd_objects(plan, artifacts, problems)
    project = next((p for p in projects if p["metadata"]["name"] == plan.name), None)
    if project is None:
        problems.append(f"{argocd_dir(plan)}: no AppProject/{plan.name}")
    if len(projects) != 1:
        problems.append(f"{argocd_dir(plan)}: {len(projects)} AppProjects, expected exactly one")
    pspec = (project or {}).get("spec") or {}
    allowed: dict[tuple[str, str], bool] = {}
    for key, namespaced in (("clusterResourceWhitelist", False), ("namespaceResourceWhitelist", True)):
        for gk in pspec.get(key) or ():
            allowed[(gk.get("group", ""), gk.get("kind", ""))] = namespaced

    owners: dict[str, list[_App]] = {}
    for app in apps:
        env = _check_app(plan, app, project, problems)
        if env is not None:
            owners.setdefault(environment_dir(plan, env.name), []).append(app)
    # Each environment folder deploys to the environment's destination (a
    # wrong Application destination is reported above, once).
    env_of_folder = {environment_dir(plan, e.name): (e, destination(e).model_dump(mode="json", exclude_none=True))
                     for e in plan.environments}
    for env in plan.environments:
        folder = environment_dir(plan, env.name)
        found = owners.get(folder, [])
        if len(found) != 1:
            names = ", ".join(a.label for a in found) or "none"
            problems.append(f"{folder}/: synced by {len(found)} Applications ({names}), expected exactly one")

    root = plan.generated_dir.rstrip("/")
    argo = argocd_dir(plan)
    seen: dict[tuple[str, str, str, str, str], str] = {}
    for a in artifacts:
        if not a.path.startswith(root + "/") or a.path.startswith(argo + "/"):
            continue
        top = "/".join(a.path.split("/")[: root.count("/") + 2])  # generated/<first>
        if top in env_of_folder:
            env, dest = env_of_folder[top]
            if posixpath.dirname(a.path) != top:
                problems.append(f"{a.path}: in a subfolder of {top}/, which Argo CD does not sync")
                continue
            if not a.path.endswith(".yaml"):
                problems.append(f"{a.path}: {top}/ holds only .yaml Kubernetes manifests")
                continue
            docs, error = _documents(a)
            if error:
                problems.append(error)
            if not docs and not error:
                problems.append(f"{a.path}: empty file in {top}/")
            for doc in docs:
                if not _is_manifest(doc):
                    problems.append(f"{a.path}: not a Kubernetes manifest (apiVersion, kind, metadata.name)")
                    continue
                kind = doc["kind"]
                group = doc["apiVersion"].rpartition("/")[0]
                meta = doc["metadata"]
                what = f"{a.path}: {kind}/{meta['name']}"
                namespaced = allowed.get((group, kind))
                if namespaced is None:
                    problems.append(f"{what}: kind {group or 'core'}/{kind} is not allowed by AppProject/{plan.name}")
                    continue
                namespace = meta.get("namespace") or (env.namespace if namespaced else "")
                if namespaced and namespace != env.namespace:
                    problems.append(f"{what}: namespace {namespace!r} is not the environment's {env.namespace!r}")
                wave = (meta.get("annotations") or {}).get(SYNC_WAVE)
                if kind not in WAVES or wave != str(WAVES[kind]):
                    expected = str(WAVES[kind]) if kind in WAVES else "a wave in WAVES"
                    problems.append(f"{what}: sync wave {wave!r}, expected {expected!r}")
                identity = (_cluster_key(dest, env.name), group, kind, namespace, meta["name"])
                if identity in seen:
                    problems.append(f"{what}: also managed by {seen[identity]} in the same cluster")
                else:
                    seen[identity] = a.path
        elif a.path.endswith((".yaml", ".yml", ".json")):
            docs, _ = _documents(a)  # JSON is YAML
            if any(_is_manifest(d) for d in docs):
                problems.append(f"{a.path}: a Kubernetes manifest outside every Application's folder")
    return problems
