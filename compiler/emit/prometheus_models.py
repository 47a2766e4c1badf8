"""Small typed models for the prometheus-operator resources SpecOps generates
(``monitoring.coreos.com/v1`` PrometheusRule and ServiceMonitor; there is no
Python SDK for them).  Only the fields we use are modelled; a unit test walks
every alias against the strict CRD schemas in ``../shared/schemas``.

camelCase on the wire (``alias_generator=to_camel``); a rule's ``for`` is a
Python keyword, so its alias is explicit."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "API_VERSION",
    "Endpoint",
    "LabelSelector",
    "NamespaceSelector",
    "ObjectMeta",
    "PrometheusRule",
    "PrometheusRuleSpec",
    "Rule",
    "RuleGroup",
    "ServiceMonitor",
    "ServiceMonitorSpec",
]

API_VERSION = "monitoring.coreos.com/v1"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class ObjectMeta(_Model):
    name: str
    namespace: str
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


# -------------------------------------------------------------- PrometheusRule


class Rule(_Model):
    """A recording rule (``record``) or an alerting rule (``alert``), never both."""

    record: str | None = None
    alert: str | None = None
    expr: str
    for_: str | None = Field(default=None, alias="for")
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class RuleGroup(_Model):
    name: str
    interval: str | None = None
    rules: tuple[Rule, ...]


class PrometheusRuleSpec(_Model):
    groups: tuple[RuleGroup, ...]


class PrometheusRule(_Model):
    api_version: Literal["monitoring.coreos.com/v1"] = API_VERSION
    kind: Literal["PrometheusRule"] = "PrometheusRule"
    metadata: ObjectMeta
    spec: PrometheusRuleSpec


# -------------------------------------------------------------- ServiceMonitor


class LabelSelector(_Model):
    match_labels: dict[str, str]


class NamespaceSelector(_Model):
    match_names: tuple[str, ...]


class Endpoint(_Model):
    port: str  # the Service port's name
    path: str
    scheme: Literal["http", "https"]
    interval: str
    scrape_timeout: str


class ServiceMonitorSpec(_Model):
    selector: LabelSelector
    namespace_selector: NamespaceSelector
    endpoints: tuple[Endpoint, ...]


class ServiceMonitor(_Model):
    api_version: Literal["monitoring.coreos.com/v1"] = API_VERSION
    kind: Literal["ServiceMonitor"] = "ServiceMonitor"
    metadata: ObjectMeta
    spec: ServiceMonitorSpec
