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

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

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


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


# ------------------------------------------------------------------ metadata


class ObjectMeta(_Model):
    name: str
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    finalizers: tuple[str, ...] | None = None


class ApplicationTemplateMeta(_Model):
    """ApplicationSet ``spec.template.metadata``: a restricted ObjectMeta."""

    name: str
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    finalizers: tuple[str, ...] | None = None


# ------------------------------------------------------------------ AppProject


class GroupKind(_Model):
    group: str  # "" is the core API group
    kind: str


class ApplicationDestination(_Model):
    """Used by Applications (one cluster) and AppProjects (globs allowed)."""

    server: str | None = None
    name: str | None = None
    namespace: str | None = None


class AppProjectSpec(_Model):
    description: str | None = None
    source_repos: tuple[str, ...]
    destinations: tuple[ApplicationDestination, ...]
    cluster_resource_whitelist: tuple[GroupKind, ...]
    namespace_resource_whitelist: tuple[GroupKind, ...]


class AppProject(_Model):
    api_version: Literal["argoproj.io/v1alpha1"] = API_VERSION
    kind: Literal["AppProject"] = "AppProject"
    metadata: ObjectMeta
    spec: AppProjectSpec


# ----------------------------------------------------------------- Application


class ApplicationSource(_Model):
    repo_url: str = Field(alias="repoURL")  # not "repoUrl"
    target_revision: str
    path: str


class SyncPolicyAutomated(_Model):
    prune: bool
    self_heal: bool


class Backoff(_Model):
    duration: str
    factor: int
    max_duration: str


class RetryStrategy(_Model):
    limit: int
    backoff: Backoff


class SyncPolicy(_Model):
    automated: SyncPolicyAutomated | None = None  # absent: manual sync
    sync_options: tuple[str, ...] = ()
    retry: RetryStrategy | None = None


class ResourceIgnoreDifferences(_Model):
    group: str
    kind: str
    json_pointers: tuple[str, ...]


class ApplicationSpec(_Model):
    project: str
    source: ApplicationSource
    destination: ApplicationDestination
    sync_policy: SyncPolicy
    ignore_differences: tuple[ResourceIgnoreDifferences, ...] = ()


class Application(_Model):
    api_version: Literal["argoproj.io/v1alpha1"] = API_VERSION
    kind: Literal["Application"] = "Application"
    metadata: ObjectMeta
    spec: ApplicationSpec


# -------------------------------------------------------------- ApplicationSet


class LabelSelector(_Model):
    match_labels: dict[str, str]


class ClusterGenerator(_Model):
    selector: LabelSelector


class Generator(_Model):
    clusters: ClusterGenerator


class ApplicationSetTemplate(_Model):
    metadata: ApplicationTemplateMeta
    spec: ApplicationSpec


class ApplicationSetSpec(_Model):
    go_template: bool = False  # fasttemplate: '{{name}}', '{{server}}'
    generators: tuple[Generator, ...]
    template: ApplicationSetTemplate


class ApplicationSet(_Model):
    api_version: Literal["argoproj.io/v1alpha1"] = API_VERSION
    kind: Literal["ApplicationSet"] = "ApplicationSet"
    metadata: ObjectMeta
    spec: ApplicationSetSpec
