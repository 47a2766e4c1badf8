"""Small typed models for the prometheus-operator resources SpecOps generates
(``monitoring.coreos.com/v1`` PrometheusRule and ServiceMonitor; there is no
Python SDK for them).  Only the fields we use are modelled; a unit test walks
every alias against the strict CRD schemas in ``../shared/schemas``.

camelCase on the wire (``alias_generator=to_camel``); a rule's ``for`` is a
Python keyword, so its alias is explicit."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from compiler.emit.crd_models import CrdModel, LabelSelector, ObjectMeta

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


# -------------------------------------------------------------- PrometheusRule


class Rule(CrdModel):
    """A recording rule (``record``) or an alerting rule (``alert``), never both."""

    record: str | None = None
    alert: str | None = None
    expr: str
    for_: str | None = Field(default=None, alias="for")
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class RuleGroup(CrdModel):
    name: str
    interval: str | None = None
    rules: tuple[Rule, ...]


class PrometheusRuleSpec(CrdModel):
    groups: tuple[RuleGroup, ...]


class PrometheusRule(CrdModel):
    api_version: Literal["monitoring.coreos.com/v1"] = API_VERSION
    kind: Literal["PrometheusRule"] = "PrometheusRule"
    metadata: ObjectMeta
    spec: PrometheusRuleSpec


# -------------------------------------------------------------- ServiceMonitor


class NamespaceSelector(CrdModel):
    match_names: tuple[str, ...]


class Endpoint(CrdModel):
    port: str  # the Service port's name
    path: str
    scheme: Literal["http", "https"]
    interval: str
    scrape_timeout: str


class ServiceMonitorSpec(CrdModel):
    selector: LabelSelector
    namespace_selector: NamespaceSelector
    endpoints: tuple[Endpoint, ...]


class ServiceMonitor(CrdModel):
    api_version: Literal["monitoring.coreos.com/v1"] = API_VERSION
    kind: Literal["ServiceMonitor"] = "ServiceMonitor"
    metadata: ObjectMeta
    spec: ServiceMonitorSpec
