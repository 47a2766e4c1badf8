"""Small typed models for the Argo CD resources SpecOps generates (there is no
Argo CD SDK for Python).  Only the fields we use are modelled, each checked
against the upstream CRD schemas (argoproj.io/v1alpha1 AppProject,
Application, ApplicationSet); a unit test walks every field alias against the
strict schemas so a typo can never reach a manifest.

Field names are snake_case in Python and camelCase on the wire
(``alias_generator=to_camel``); where Argo CD's key is not the plain camelCase
of the Python name (``repoURL``) the alias is explicit.  Dump with
``model_dump(by_alias=True, exclude_none=True)`` (``compiler.emit.serialize``
does)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from compiler.emit.crd_models import CrdModel, LabelSelector, ObjectMeta

__all__ = [
    "API_VERSION",
    "AppProject",
    "AppProjectSpec",
    "Application",
    "ApplicationDestination",
    "ApplicationSet",
    "ApplicationSetSpec",
    "ApplicationSetTemplate",
    "ApplicationSource",
    "ApplicationSpec",
    "ApplicationTemplateMeta",
    "Backoff",
    "ClusterGenerator",
    "Generator",
    "GroupKind",
    "LabelSelector",
    "ObjectMeta",
    "ResourceIgnoreDifferences",
    "RetryStrategy",
    "SyncPolicy",
    "SyncPolicyAutomated",
]

API_VERSION = "argoproj.io/v1alpha1"


# ------------------------------------------------------------------ metadata


class ApplicationTemplateMeta(CrdModel):
    """ApplicationSet ``spec.template.metadata``: a restricted ObjectMeta."""

    name: str
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    finalizers: tuple[str, ...] | None = None


# ------------------------------------------------------------------ AppProject


class GroupKind(CrdModel):
    group: str  # "" is the core API group
    kind: str


class ApplicationDestination(CrdModel):
    """Used by Applications (one cluster) and AppProjects (globs allowed)."""

    server: str | None = None
    name: str | None = None
    namespace: str | None = None


class AppProjectSpec(CrdModel):
    description: str | None = None
    source_repos: tuple[str, ...]
    destinations: tuple[ApplicationDestination, ...]
    cluster_resource_whitelist: tuple[GroupKind, ...]
    namespace_resource_whitelist: tuple[GroupKind, ...]


class AppProject(CrdModel):
    api_version: Literal["argoproj.io/v1alpha1"] = API_VERSION
    kind: Literal["AppProject"] = "AppProject"
    metadata: ObjectMeta
    spec: AppProjectSpec


# ----------------------------------------------------------------- Application


class ApplicationSource(CrdModel):
    repo_url: str = Field(alias="repoURL")  # not "repoUrl"
    target_revision: str
    path: str


class SyncPolicyAutomated(CrdModel):
    prune: bool
    self_heal: bool


class Backoff(CrdModel):
    duration: str
    factor: int
    max_duration: str


class RetryStrategy(CrdModel):
    limit: int
    backoff: Backoff


class SyncPolicy(CrdModel):
    automated: SyncPolicyAutomated | None = None  # absent: manual sync
    sync_options: tuple[str, ...] = ()
    retry: RetryStrategy | None = None


class ResourceIgnoreDifferences(CrdModel):
    group: str
    kind: str
    json_pointers: tuple[str, ...]


class ApplicationSpec(CrdModel):
    project: str
    source: ApplicationSource
    destination: ApplicationDestination
    sync_policy: SyncPolicy
    ignore_differences: tuple[ResourceIgnoreDifferences, ...] = ()


class Application(CrdModel):
    api_version: Literal["argoproj.io/v1alpha1"] = API_VERSION
    kind: Literal["Application"] = "Application"
    metadata: ObjectMeta
    spec: ApplicationSpec


# -------------------------------------------------------------- ApplicationSet


class ClusterGenerator(CrdModel):
    selector: LabelSelector


class Generator(CrdModel):
    clusters: ClusterGenerator


class ApplicationSetTemplate(CrdModel):
    metadata: ApplicationTemplateMeta
    spec: ApplicationSpec


class ApplicationSetSpec(CrdModel):
    go_template: bool = False  # fasttemplate: '{{name}}', '{{server}}'
    generators: tuple[Generator, ...]
    template: ApplicationSetTemplate


class ApplicationSet(CrdModel):
    api_version: Literal["argoproj.io/v1alpha1"] = API_VERSION
    kind: Literal["ApplicationSet"] = "ApplicationSet"
    metadata: ObjectMeta
    spec: ApplicationSetSpec
