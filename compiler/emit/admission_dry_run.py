"""The offline admission dry run: every emitted ValidatingAdmissionPolicy,
through its emitted binding, against every emitted object of the same
cluster it would check, as the API server would on the sync's CREATE.

Matching follows Kubernetes: the policy's ``matchConstraints`` (group,
version, resource, operation, scope), the binding's ``matchResources``
(``namespaceSelector`` over the object's Namespace, whose
``kubernetes.io/metadata.name`` label the API server sets, and
``objectSelector`` over the object's labels), then ``matchConditions``.
The CEL variables are Kubernetes': ``object``, ``oldObject`` (null on
CREATE), ``request``, ``params`` (null: no paramKind), ``namespaceObject``
and ``variables`` (evaluated in order).

Evaluated with the ``cel`` engine the runtime and lint use
(``runtime.contracts.cel``): every function our policies need (``has``,
``all``, ``filter``, ``map``, ``matches``, ``contains``, ``int``, ``in``) is
there.  Anything it cannot evaluate (a Kubernetes-only library such as
``quantity()`` or ``authorizer``, a missing field) is reported as SO603, not
passed: with ``failurePolicy: Fail`` the cluster would deny the object too,
or at least we cannot show it would not.  Output the cluster would reject is
SO602, located at the spec the object came from, with the rule's policy
file:line as related location.  Pure: reads only the artifacts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from compiler.diagnostics import Diagnostic, Location, Severity
from compiler.emit.artifact import Artifact
from compiler.emit.conventions import ANNOTATION_SOURCE
from compiler.emit.layout import environment_dir
from compiler.plan import SystemPlan
from compiler.policy.admission import ADMISSION_RESOURCES
from runtime.contracts.cel import CelError, CelProgram, compile_cel, prepare_context, set_variable

__all__ = ["NAMESPACE_NAME_LABEL", "Admission", "admission_dry_run", "evaluate_admission"]

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
_GROUP = "admissionregistration.k8s.io"
# Fields of a policy or binding this dry run does not model: their presence is
# reported rather than ignored.
_UNMODELLED_POLICY = ("paramKind", "auditAnnotations")
_UNMODELLED_MATCH = ("excludeResourceRules",)
_SOURCE = re.compile(r"^(?P<file>.+?):(?P<line>\d+) \((?P<resource>[^)]+)\)$")


@dataclass(frozen=True, slots=True)
class _Object:
    path: str
    doc: Mapping[str, Any]
    sources: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.doc['kind']}/{self.doc['metadata']['name']}"


@dataclass(frozen=True, slots=True)
class Admission:
    """The outcome of one policy for one object: ``allowed``, or why not."""

    allowed: bool
    matched: bool
    message: str = ""  # the failing validation's message
    error: str = ""  # an expression that could not be evaluated offline


# ------------------------------------------------------------------ matching


def _selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector; an absent or empty selector matches everything."""
    if not selector:
        return True
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for req in selector.get("matchExpressions") or ():
        key, op, values = req["key"], req["operator"], req.get("values") or ()
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _resource_of(doc: Mapping[str, Any]) -> tuple[str, str, str | None]:
    group, _, version = doc["apiVersion"].rpartition("/")
    known = ADMISSION_RESOURCES.get(doc["kind"])
    resource = known.resource if known and (known.group, known.version) == (group, version) else None
    return group, version, resource


def _rule_matches(rule: Mapping[str, Any], doc: Mapping[str, Any], operation: str) -> bool:
    group, version, resource = _resource_of(doc)
    namespaced = bool(doc["metadata"].get("namespace"))

    def hit(values: Iterable[str] | None, value: str | None) -> bool:
        values = tuple(values or ())
        return "*" in values or (value is not None and value in values)

    scope = rule.get("scope", "*")
    return (hit(rule.get("apiGroups"), group) and hit(rule.get("apiVersions"), version)
            and hit(rule.get("resources"), resource) and hit(rule.get("operations"), operation)
            and (scope == "*" or (scope == "Namespaced") == namespaced))


def _match_resources(match: Mapping[str, Any] | None, doc: Mapping[str, Any], namespace_obj: Mapping[str, Any] | None,
                     operation: str, need_rules: bool) -> bool:
    match = match or {}
    rules = match.get("resourceRules") or ()
    # A policy's matchConstraints must name resources; a binding's may narrow them further.
    if (need_rules or rules) and not any(_rule_matches(r, doc, operation) for r in rules):
        return False
    if namespace_obj is not None:
        ns_labels = (namespace_obj.get("metadata") or {}).get("labels") or {}
        if not _selector_matches(match.get("namespaceSelector"), ns_labels):
            return False
    return _selector_matches(match.get("objectSelector"), doc["metadata"].get("labels") or {})


# ---------------------------------------------------------------- evaluation


class _Evaluator:
    """Compiles each expression once and converts each object to CEL values
    once for the whole run (conversion costs more than evaluation); variables
    shared by several policies (the same expressions) are evaluated once per object."""

    def __init__(self) -> None:
        self._programs: dict[str, CelProgram | CelError] = {}
        self._contexts: dict[int, tuple[Mapping[str, Any], Any]] = {}
        self._variables: dict[tuple[int, tuple[tuple[str, str], ...]], dict[str, Any] | CelError] = {}
        # What ``variables`` is bound to in each object's context now: rebinding converts it again.
        self._bound: dict[int, Any] = {}

    def program(self, source: str) -> CelProgram:
        if source not in self._programs:
            try:
                self._programs[source] = compile_cel(source)
            except CelError as exc:
                self._programs[source] = exc
        found = self._programs[source]
        if isinstance(found, CelError):
            raise found
        return found

    def context(self, doc: Mapping[str, Any], namespace_obj: Mapping[str, Any] | None, operation: str) -> Any:
        """The converted Kubernetes variables of one object (``variables`` rebound per policy)."""
        key = id(doc)
        cached = self._contexts.get(key)
        if cached is None or cached[0] is not doc:  # keep doc alive, so id() stays its own
            converted = prepare_context({"object": doc, "oldObject": None, "request": _request(doc, operation),
                                         "params": None, "namespaceObject": namespace_obj, "variables": {}})
            cached = self._contexts[key] = (doc, converted)
        return cached[1]

    def bind(self, doc: Mapping[str, Any], context: Any, values: dict[str, Any]) -> None:
        """Bind ``variables`` in an object's context, unless it is bound to these very values already."""
        if self._bound.get(id(doc)) is not values:
            set_variable(context, "variables", values)
            self._bound[id(doc)] = values

    def variables(self, doc: Mapping[str, Any], context: Any, spec: Iterable[Mapping[str, str]]) -> dict[str, Any]:
        """``variables``, evaluated in order (each may read the ones before); raises CelError naming the variable."""
        defs = tuple((v["name"], v["expression"]) for v in spec)
        key = (id(doc), defs)
        if key not in self._variables:
            values: dict[str, Any] = {}
            try:
                for name, expression in defs:
                    if values:  # the first one reads no other variable
                        set_variable(context, "variables", dict(values))
                        self._bound.pop(id(doc), None)
                    try:
                        values[name] = self.program(expression).evaluate(context)
                    except CelError as exc:
                        raise CelError(exc.kind, f"variables.{name}: {exc.message}") from None
                self._variables[key] = values
            except CelError as exc:
                self._variables[key] = exc
        found = self._variables[key]
        if isinstance(found, CelError):
            raise found
        return found


def _request(doc: Mapping[str, Any], operation: str) -> dict[str, Any]:
    group, version, resource = _resource_of(doc)
    meta = doc["metadata"]
    return {
        "kind": {"group": group, "version": version, "kind": doc["kind"]},
        "resource": {"group": group, "version": version, "resource": resource or ""},
        "requestKind": {"group": group, "version": version, "kind": doc["kind"]},
        "name": meta["name"], "namespace": meta.get("namespace", ""), "operation": operation,
        # Argo CD applies what git holds.
        "userInfo": {"username": "system:serviceaccount:argocd:argocd-application-controller",
                     "groups": ["system:serviceaccounts", "system:serviceaccounts:argocd", "system:authenticated"]},
        "dryRun": False,
    }


def evaluate_admission(policy: Mapping[str, Any], binding: Mapping[str, Any], doc: Mapping[str, Any],
                       namespace_obj: Mapping[str, Any] | None, evaluator: _Evaluator | None = None,
                       operation: str = "CREATE") -> Admission:
    """What the API server would answer for ``doc`` under one policy and binding."""
    evaluator = evaluator or _Evaluator()
    pspec = policy.get("spec") or {}
    if not _match_resources(pspec.get("matchConstraints"), doc, namespace_obj, operation, need_rules=True):
        return Admission(True, False)
    if not _match_resources((binding.get("spec") or {}).get("matchResources"), doc, namespace_obj, operation,
                            need_rules=False):
        return Admission(True, False)
    where = "matchConditions"
    try:
        context = evaluator.context(doc, namespace_obj, operation)
        for cond in pspec.get("matchConditions") or ():
            where = f"matchCondition '{cond['name']}'"
            program = evaluator.program(cond["expression"])
            if "variables" in program.variables:
                raise CelError("undeclared", "matchConditions cannot read variables (Kubernetes does not declare them there)")
            if not program.evaluate_bool(context):
                return Admission(True, False)
        where = "variables"
        evaluator.bind(doc, context, evaluator.variables(doc, context, pspec.get("variables") or ()))
        for i, validation in enumerate(pspec.get("validations") or ()):
            where = f"validations[{i}]"
            if not evaluator.program(validation["expression"]).evaluate_bool(context):
                return Admission(False, True, message=validation.get("message") or validation["expression"])
    except CelError as exc:
        return Admission(False, True, error=exc.message if where == "variables" else f"{where}: {exc.message}")
    return Admission(True, True)


# ---------------------------------------------------------------- the check


def _document(artifact: Artifact) -> list[Any]:
    if artifact.document is not None:
        return [artifact.document]
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [d for d in yaml.load_all(artifact.content, Loader=loader) if d is not None]  # noqa: S506


def _is_manifest(doc: Any) -> bool:
    return (isinstance(doc, dict) and isinstance(doc.get("apiVersion"), str) and isinstance(doc.get("kind"), str)
            and isinstance(doc.get("metadata"), dict) and isinstance(doc["metadata"].get("name"), str))


def _cluster(plan: SystemPlan, env_name: str) -> str:
    env = plan.environment(env_name)
    # Each edge gateway is its own cluster, running exactly its folder.
    return f"edge:{env.name}" if env.kind == "edge" else (env.cluster or "in-cluster")


def _object_location(plan: SystemPlan, obj: _Object) -> tuple[Location, str | None]:
    source = ((obj.doc["metadata"].get("annotations") or {}).get(ANNOTATION_SOURCE) or "")
    m = _SOURCE.match(source)
    if m:
        return Location(m["file"], int(m["line"]), 1), m["resource"]
    files = {rid: f for rid, f, _ in plan.resource_hashes}
    for rid in obj.sources:
        if rid in files:
            return Location(files[rid]), rid
    origin = plan.origin
    return (Location(origin.file, origin.line, 1), origin.resource) if origin else (Location("specs"), None)


def _rule_location(plan: SystemPlan, policy: Mapping[str, Any]) -> Location | None:
    name = policy["metadata"]["name"]
    rule = next((r for r in plan.admission if r.name == name), None)
    if rule is not None:
        return Location(rule.file, rule.line, 1)
    m = _SOURCE.match((policy["metadata"].get("annotations") or {}).get(ANNOTATION_SOURCE) or "")
    return Location(m["file"], int(m["line"]), 1) if m else None


def _namespace_object(found: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The Namespace as the API server holds it: with the label it sets itself."""
    meta = found.get("metadata") or {}
    return {**found, "metadata": {**meta, "name": name,
                                  "labels": {**(meta.get("labels") or {}), NAMESPACE_NAME_LABEL: name}}}


def _namespace_objects(objects: Iterable[_Object]) -> dict[str, dict[str, Any]]:
    return {o.doc["metadata"]["name"]: _namespace_object(o.doc, o.doc["metadata"]["name"])
            for o in objects if o.doc["kind"] == "Namespace"}


def _binding_problem(binding: _Object, policy: _Object | None, cluster: str) -> str | None:
    """Why the dry run cannot judge through this binding (a compiler bug), or None."""
    bspec = binding.doc.get("spec") or {}
    if policy is None:
        return f"names policy {bspec.get('policyName')!r}, which is not emitted to cluster {cluster}"
    pspec = policy.doc.get("spec") or {}
    if any(k in pspec for k in _UNMODELLED_POLICY) or any(
            k in (pspec.get("matchConstraints") or {}) or k in (bspec.get("matchResources") or {})
            for k in _UNMODELLED_MATCH):
        return f"uses {', '.join(_UNMODELLED_POLICY + _UNMODELLED_MATCH)}, which the dry run does not model"
    if "Deny" not in (bspec.get("validationActions") or ()):
        return "does not deny (validationActions without Deny)"
    return None


def admission_dry_run(plan: SystemPlan, artifacts: Sequence[Artifact]) -> list[Diagnostic]:
    """SO602 for every emitted object its own cluster's admission policies
    would deny, SO603 for every policy expression that cannot be evaluated
    offline on an object it binds to, SO604 for a binding or policy this dry
    run cannot model (a compiler bug)."""
    folders = {environment_dir(plan, e.name): e.name for e in plan.environments}
    objects: dict[str, list[_Object]] = {}
    for a in artifacts:
        env = folders.get(a.path.rpartition("/")[0])
        if env is None or not a.path.endswith(".yaml"):
            continue
        for doc in _document(a):
            if _is_manifest(doc):
                objects.setdefault(_cluster(plan, env), []).append(_Object(a.path, doc, a.sources))
    evaluator = _Evaluator()
    out: list[Diagnostic] = []
    system_where = Location(plan.origin.file, plan.origin.line, 1) if plan.origin else Location("specs")
    for cluster in sorted(objects):
        in_cluster = objects[cluster]
        policies = {o.doc["metadata"]["name"]: o for o in in_cluster
                    if o.doc["kind"] == "ValidatingAdmissionPolicy" and o.doc["apiVersion"].startswith(_GROUP)}
        bindings = [o for o in in_cluster
                    if o.doc["kind"] == "ValidatingAdmissionPolicyBinding" and o.doc["apiVersion"].startswith(_GROUP)]
        namespaces = _namespace_objects(in_cluster)
        for binding in bindings:
            policy = policies.get((binding.doc.get("spec") or {}).get("policyName", ""))
            problem = _binding_problem(binding, policy, cluster)
            if problem:
                out.append(Diagnostic("SO604", Severity.ERROR, f"{binding.path}: {binding.label} {problem}",
                                      system_where, hint="this is a compiler bug; please report it with the specs"))
                continue
            assert policy is not None
            rule_where = _rule_location(plan, policy.doc)
            for obj in in_cluster:
                ns_name = obj.doc["metadata"].get("namespace")
                ns_obj = namespaces.setdefault(ns_name, _namespace_object({}, ns_name)) if ns_name else None
                result = evaluate_admission(policy.doc, binding.doc, obj.doc, ns_obj, evaluator)
                if result.allowed:
                    continue
                where, resource = _object_location(plan, obj)
                related = ((rule_where, "admission rule defined here"),) if rule_where else ()
                built = f" (built from {', '.join(obj.sources)})" if obj.sources else ""
                if result.error:
                    out.append(Diagnostic(
                        "SO603", Severity.ERROR,
                        f"{obj.path}: {obj.label}: ValidatingAdmissionPolicy/{policy.doc['metadata']['name']} cannot "
                        f"be evaluated offline: {result.error}{built}",
                        where, resource=resource, related=related,
                        hint="guard optional fields with has() and use only functions the dry run evaluates; "
                             "with failurePolicy Fail the cluster would deny this object"))
                else:
                    out.append(Diagnostic(
                        "SO602", Severity.ERROR,
                        f"{obj.path}: {obj.label} would be denied by its cluster's ValidatingAdmissionPolicy/"
                        f"{policy.doc['metadata']['name']}: {result.message}{built}",
                        where, resource=resource, related=related,
                        hint="change the spec this object is built from so it satisfies the rule (or change the rule "
                             "in a reviewed policy change); Argo CD could not apply it"))
    return out
