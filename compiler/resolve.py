"""Stage 3: validated resources -> a resolved spec: an index by id and a
networkx graph of references (edges point from the referrer to what it
uses).  Dangling references, duplicate names, cycles and unused resources
are reported here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import TypeVar

import networkx as nx

from compiler.diagnostics import Diagnostic, Location, Severity, did_you_mean
from compiler.spec import DataSource, FeatureSet, Model, ModelRelease, Resource, RiskPolicy, ServiceLevel, System
from compiler.validate import InvalidDocument, SpecNode

__all__ = ["Reference", "ResolvedSpec", "ResolveResult", "resolve", "references_of"]

R = TypeVar("R", bound=Resource)


@dataclass(frozen=True, slots=True)
class Reference:
    """One reference from a resource field to another resource."""

    source: str  # "Kind/name" of the referrer
    target_kind: str  # Kind, or "Environment" / "Notifier" (entries of the System)
    target_name: str
    path: tuple[str | int, ...]  # the referring field inside the source document

    @property
    def target(self) -> str:
        return f"{self.target_kind}/{self.target_name}"


@dataclass(frozen=True)
class ResolvedSpec:
    """The whole system, resolved.  Read-only: later stages build new values."""

    nodes: Mapping[str, SpecNode]
    graph: nx.DiGraph
    system: SpecNode | None = None
    environments: Mapping[str, tuple[SpecNode, int]] = field(default_factory=dict)
    notifiers: Mapping[str, tuple[SpecNode, int]] = field(default_factory=dict)
    # Documents that failed validation (their problems are already reported).
    invalid: tuple[InvalidDocument, ...] = ()

    @cached_property
    def _by_kind(self) -> Mapping[str, tuple[SpecNode, ...]]:
        by_kind: dict[str, list[SpecNode]] = {}
        for node_id in sorted(self.nodes):
            node = self.nodes[node_id]
            by_kind.setdefault(node.kind, []).append(node)
        return MappingProxyType({k: tuple(v) for k, v in by_kind.items()})

    def of_kind(self, cls: type[R]) -> Iterator[tuple[SpecNode, R]]:
        """Resources of one kind, sorted by id (computed once per resolved spec)."""
        for node in self._by_kind.get(cls.KIND, ()):
            yield node, node.resource  # type: ignore[misc]

    def get(self, kind: str, name: str) -> SpecNode | None:
        return self.nodes.get(f"{kind}/{name}")

    def dependents(self, node_id: str, kind: str | None = None) -> list[SpecNode]:
        """Resources that reference ``node_id`` (optionally only of ``kind``)."""
        if node_id not in self.graph:
            return []
        out = [self.nodes[p] for p in sorted(self.graph.predecessors(node_id)) if p in self.nodes]
        return [n for n in out if kind is None or n.kind == kind]

    def service_levels_for(self, model: str) -> list[tuple[SpecNode, ServiceLevel]]:
        return [(n, n.resource) for n in self.dependents(f"Model/{model}", "ServiceLevel")]  # type: ignore[misc]

    def releases_for(self, model: str) -> list[tuple[SpecNode, ModelRelease]]:
        return [(n, n.resource) for n in self.dependents(f"Model/{model}", "ModelRelease")]  # type: ignore[misc]

    def deployed_environments(self, model: str) -> list[str]:
        """Environments a model is served in: its serving list plus where releases deploy it."""
        node = self.get("Model", model)
        envs: set[str] = set()
        if node is not None:
            envs.update(node.resource.spec.serving.environments)  # type: ignore[attr-defined]
        for _, rel in self.releases_for(model):
            envs.update(d.environment for d in rel.spec.deployments)
        return sorted(envs)

    def environment(self, name: str):  # -> Environment | None
        entry = self.environments.get(name)
        if entry is None:
            return None
        node, index = entry
        return node.resource.spec.environments[index]  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ResolveResult:
    spec: ResolvedSpec
    diagnostics: tuple[Diagnostic, ...]


def references_of(node: SpecNode) -> Iterator[Reference]:
    """Every reference a resource makes, with the field path that makes it."""
    r = node.resource
    src = node.id
    if isinstance(r, FeatureSet):
        kind, name = r.spec.source.ref
        key = "dataSource" if kind == "DataSource" else "featureSet"
        yield Reference(src, kind, name, ("spec", "source", key))
        if r.spec.online.stream is not None:
            yield Reference(src, "DataSource", r.spec.online.stream, ("spec", "online", "stream"))
    elif isinstance(r, Model):
        s = r.spec
        yield Reference(src, "DataSource", s.label.source, ("spec", "label", "source"))
        for i, f in enumerate(s.features):
            yield Reference(src, "FeatureSet", f.feature_set, ("spec", "features", i, "featureSet"))
        for i, env in enumerate(s.serving.environments):
            yield Reference(src, "Environment", env, ("spec", "serving", "environments", i))
        if s.review is not None:
            for i, n in enumerate(s.review.notify):
                yield Reference(src, "Notifier", n, ("spec", "review", "notify", i))
    elif isinstance(r, ServiceLevel):
        yield Reference(src, "Model", r.spec.model, ("spec", "model"))
        for i, env in enumerate(r.spec.environments):
            yield Reference(src, "Environment", env, ("spec", "environments", i))
        for i, n in enumerate(r.spec.notify):
            yield Reference(src, "Notifier", n, ("spec", "notify", i))
    elif isinstance(r, RiskPolicy):
        for i, m in enumerate(r.spec.selector.models):
            yield Reference(src, "Model", m, ("spec", "selector", "models", i))
        for i, a in enumerate(r.spec.approvals):
            yield Reference(src, "Environment", a.environment, ("spec", "approvals", i, "environment"))
        for i, env in enumerate(r.spec.manual_sync):
            yield Reference(src, "Environment", env, ("spec", "manualSync", i))
        for i, rule in enumerate(r.spec.rules):
            for j, env in enumerate(rule.environments):
                yield Reference(src, "Environment", env, ("spec", "rules", i, "environments", j))
    elif isinstance(r, ModelRelease):
        yield Reference(src, "Model", r.spec.model, ("spec", "model"))
        for i, d in enumerate(r.spec.deployments):
            yield Reference(src, "Environment", d.environment, ("spec", "deployments", i, "environment"))


# Kinds nobody needs to reference: roots of the graph.
_ROOT_KINDS = frozenset({"System", "Model", "ServiceLevel", "RiskPolicy", "ModelRelease"})


def resolve(nodes: Iterable[SpecNode], invalid: Iterable[InvalidDocument] = ()) -> ResolveResult:
    invalid = tuple(invalid)
    diagnostics: list[Diagnostic] = []
    index: dict[str, SpecNode] = {}
    for node in sorted(nodes, key=lambda n: (n.id, n.document.file, n.document.index)):
        first = index.get(node.id)
        if first is not None:
            diagnostics.append(
                Diagnostic(
                    "SO302",
                    Severity.ERROR,
                    f"duplicate {node.kind} '{node.name}' (also defined at {first.location('metadata', 'name', value=True)})",
                    node.location("metadata", "name", value=True),
                    hint="names are unique per kind across all files; rename or delete one",
                    resource=node.id,
                    related=((first.location("metadata", "name", value=True), "first defined here"),),
                )
            )
            continue
        index[node.id] = node

    systems = [n for n in index.values() if n.kind == "System"]
    system = systems[0] if systems else None
    invalid_systems = [d for d in invalid if d.kind == "System"]
    if not systems and index and not invalid_systems:
        any_node = min(index.values(), key=lambda n: (n.document.file, n.document.index))
        diagnostics.append(
            Diagnostic("SO305", Severity.ERROR, "no System resource: environments and the runtime image are undefined",
                       Location(any_node.document.file, 1, 1), hint="add one resource with 'kind: System' (environments, runtime image, git repository)")
        )
    for extra in systems[1:]:
        diagnostics.append(
            Diagnostic("SO305", Severity.ERROR, f"more than one System ('{systems[0].name}' and '{extra.name}')",
                       extra.location("metadata", "name", value=True), hint="a spec tree describes exactly one System",
                       resource=extra.id, related=((systems[0].location("metadata", "name"), "first System"),))
        )

    environments: dict[str, tuple[SpecNode, int]] = {}
    notifiers: dict[str, tuple[SpecNode, int]] = {}
    if system is not None:
        sys_spec = system.resource.spec  # type: ignore[attr-defined]
        for i, env in enumerate(sys_spec.environments):
            if env.name in environments:
                diagnostics.append(_dup_entry(system, "environment", env.name, ("spec", "environments", i, "name")))
            environments.setdefault(env.name, (system, i))
        for i, n in enumerate(sys_spec.notifiers):
            if n.name in notifiers:
                diagnostics.append(_dup_entry(system, "notifier", n.name, ("spec", "notifiers", i, "name")))
            notifiers.setdefault(n.name, (system, i))

    graph = nx.DiGraph()
    for node_id, node in index.items():
        graph.add_node(node_id, kind=node.kind)
    # Invalid resources still define their names (no cascades of SO301).
    for doc in invalid:
        if doc.id and doc.id not in graph:
            graph.add_node(doc.id, kind=doc.kind, invalid=True)
    if system is None and invalid_systems:
        for entry_kind, key in (("Environment", "environments"), ("Notifier", "notifiers")):
            for name in _raw_names(invalid_systems[0].document.data, key):
                graph.add_node(f"{entry_kind}/{name}", kind=entry_kind, invalid=True)
    for name in environments:
        graph.add_node(f"Environment/{name}", kind="Environment")
        if system is not None:
            graph.add_edge(system.id, f"Environment/{name}", path=("spec", "environments"))
    for name in notifiers:
        graph.add_node(f"Notifier/{name}", kind="Notifier")
        if system is not None:
            graph.add_edge(system.id, f"Notifier/{name}", path=("spec", "notifiers"))

    for node_id in sorted(index):
        node = index[node_id]
        for ref in references_of(node):
            if ref.target in graph and ref.target != node_id:
                graph.add_edge(node_id, ref.target, path=ref.path)
            elif ref.target == node_id:
                graph.add_edge(node_id, node_id, path=ref.path)
            else:
                diagnostics.append(_dangling(node, ref, index, environments, notifiers))

    diagnostics.extend(_cycles(graph, index))
    if not invalid:  # "unused" is only reliable when every reference could be read
        diagnostics.extend(_unreferenced(graph, index))
    resolved = ResolvedSpec(
        nodes=MappingProxyType(index),
        graph=nx.freeze(graph),
        system=system,
        environments=MappingProxyType(environments),
        notifiers=MappingProxyType(notifiers),
        invalid=invalid,
    )
    return ResolveResult(resolved, tuple(diagnostics))


def _raw_names(data: Mapping, key: str) -> list[str]:
    spec = data.get("spec")
    entries = spec.get(key) if isinstance(spec, dict) else None
    if not isinstance(entries, list):
        return []
    return [e["name"] for e in entries if isinstance(e, dict) and isinstance(e.get("name"), str)]


def _dup_entry(system: SpecNode, what: str, name: str, path: tuple) -> Diagnostic:
    return Diagnostic("SO302", Severity.ERROR, f"duplicate {what} '{name}' in the System", system.location(*path, value=True),
                      hint=f"{what} names must be unique", resource=system.id)


def _dangling(node: SpecNode, ref: Reference, index: Mapping[str, SpecNode], environments: Mapping, notifiers: Mapping) -> Diagnostic:
    if ref.target_kind == "Environment":
        pool = list(environments)
        where = "the System's environments"
    elif ref.target_kind == "Notifier":
        pool = list(notifiers)
        where = "the System's notifiers"
    else:
        pool = [n.name for n in index.values() if n.kind == ref.target_kind]
        where = f"the {ref.target_kind} resources"
    hint = did_you_mean(ref.target_name, pool)
    if hint is None:
        hint = f"known: {', '.join(sorted(pool))}" if pool else f"there are no {ref.target_kind} definitions yet; add one"
    return Diagnostic(
        "SO301",
        Severity.ERROR,
        f"{node.kind} '{node.name}' refers to {ref.target_kind.lower() if ref.target_kind in ('Environment', 'Notifier') else ref.target_kind} "
        f"'{ref.target_name}', which is not among {where}",
        node.location(*ref.path, value=True),
        hint=hint,
        resource=node.id,
    )


def _cycles(graph: nx.DiGraph, index: Mapping[str, SpecNode]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for component in sorted((sorted(c) for c in nx.strongly_connected_components(graph)), key=lambda c: c[0]):
        if len(component) == 1 and not graph.has_edge(component[0], component[0]):
            continue
        sub = graph.subgraph(component)
        cycle = [u for u, _ in nx.find_cycle(sub, source=component[0])]
        path_text = " -> ".join(cycle + [cycle[0]])
        first = index[cycle[0]]
        edge_path = graph.edges[cycle[0], cycle[1] if len(cycle) > 1 else cycle[0]]["path"]
        out.append(
            Diagnostic(
                "SO303",
                Severity.ERROR,
                f"reference cycle: {path_text}",
                first.location(*edge_path, value=True),
                hint="a feature set cannot (indirectly) depend on itself; break the cycle",
                resource=first.id,
                related=tuple((index[n].location("metadata", "name"), f"{n} is part of the cycle") for n in cycle[1:] if n in index),
            )
        )
    return out


def _unreferenced(graph: nx.DiGraph, index: Mapping[str, SpecNode]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for node_id in sorted(index):
        node = index[node_id]
        if node.kind in _ROOT_KINDS:
            continue
        if graph.in_degree(node_id) == 0:
            used_by = "a FeatureSet or Model" if node.kind == "DataSource" else "a Model"
            out.append(
                Diagnostic(
                    "SO304",
                    Severity.WARNING,
                    f"{node.kind} '{node.name}' is not used by {used_by}",
                    node.location("metadata", "name", value=True),
                    hint="reference it, or delete it if it is obsolete",
                    resource=node.id,
                )
            )
    return out
