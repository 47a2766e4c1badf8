"""The catalog of diagnostic codes: what each means and how to fix it
(`specops explain CODE`, SARIF rule metadata, docs/diagnostics.md)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CODES", "CodeInfo", "STAGES"]


@dataclass(frozen=True, slots=True)
class CodeInfo:
    code: str
    title: str
    explanation: str
    fix: str

    @property
    def stage(self) -> str:
        return STAGES[self.code[2]]


STAGES = {"1": "load", "2": "validate", "3": "resolve", "4": "check", "5": "policy", "6": "compile"}

_CATALOG: tuple[tuple[str, str, str, str], ...] = (
    # ------------------------------------------------------------- load
    ("SO101", "invalid YAML",
     "The file is not valid YAML, or uses a YAML feature specs do not allow (custom tags, merge keys, complex keys).",
     "Fix the syntax at the reported position; write plain mappings, lists and scalars."),
    ("SO102", "duplicate key",
     "A mapping repeats a key. YAML parsers silently keep the last value, which hides mistakes.",
     "Delete or rename one of the keys."),
    ("SO103", "document too large or too deep",
     "The document expands to too many nodes (an alias/anchor bomb), nests too deeply, or an alias refers to itself.",
     "Write the values out instead of nesting aliases of large anchors."),
    ("SO104", "file too large",
     "Spec files are limited in size so that linting stays fast and bounded.",
     "Split the resources across several files."),
    ("SO105", "not UTF-8",
     "Spec files must be UTF-8 encoded.",
     "Re-save the file as UTF-8."),
    ("SO106", "tab indentation",
     "YAML does not allow tab characters for indentation.",
     "Replace tabs with spaces (configure your editor to insert spaces)."),
    ("SO107", "document is not a mapping",
     "Every YAML document must be one resource: a mapping with apiVersion, kind, metadata and spec.",
     "Turn the document into a resource, or remove it."),
    ("SO108", "unknown apiVersion",
     "SpecOps resources use apiVersion specops.dev/v1alpha1.",
     "Set apiVersion: specops.dev/v1alpha1."),
    ("SO109", "unknown kind",
     "The kind is not one of System, DataSource, FeatureSet, Model, ServiceLevel, RiskPolicy, ModelRelease.",
     "Fix the spelling (see the did-you-mean hint)."),
    ("SO110", "path not readable",
     "A path given on the command line does not exist or cannot be read.",
     "Pass existing spec files or directories."),
    # --------------------------------------------------------- validate
    ("SO201", "unknown field",
     "The field is not part of the kind's schema (typo, wrong nesting level, or a field of another kind).",
     "Fix the spelling or nesting; `specops schema` writes the JSON Schema for editor completion."),
    ("SO202", "missing required field",
     "A required field is absent.",
     "Add the field at the indicated level."),
    ("SO203", "wrong type",
     "The value has the wrong type (e.g. a string where a number is expected). YAML 1.2 rules apply: yes/no are strings.",
     "Write the value with the expected type; quote strings that look like numbers."),
    ("SO204", "invalid value",
     "The value is out of range, not an allowed choice, or does not match the required format.",
     "Use one of the allowed values or a value in range (see the hint)."),
    ("SO205", "invalid name",
     "Names become file names and Kubernetes names: DNS-1123 labels (a-z, 0-9, '-', at most 63 characters). "
     "This also rules out path traversal such as '../x'.",
     "Rename using lower-case letters, digits and '-'."),
    ("SO206", "invalid duration",
     "Durations are strings with a unit: ms, s, m, h, d, w (e.g. '90s', '15m', '24h', '7d', '1h30m').",
     "Write the duration with a unit."),
    ("SO207", "inconsistent fields",
     "Fields of one block contradict each other (e.g. a 'cost' threshold without costs, min greater than max).",
     "Follow the message: add the missing companion field or remove the conflicting one."),
    ("SO208", "NaN or infinity",
     "Numbers must be finite; .nan and .inf are rejected.",
     "Write a finite number."),
    # ---------------------------------------------------------- resolve
    ("SO301", "dangling reference",
     "A resource refers to another resource, environment or notifier that does not exist.",
     "Fix the name (see the did-you-mean hint) or add the missing resource."),
    ("SO302", "duplicate name",
     "Two resources of the same kind (or two environments/notifiers) share a name; both locations are shown.",
     "Rename or delete one of them."),
    ("SO303", "reference cycle",
     "Resources depend on each other in a cycle (e.g. feature sets derived from each other).",
     "Break the cycle shown in the message."),
    ("SO304", "unused resource",
     "A data source or feature set is not used by anything (warning).",
     "Reference it or delete it."),
    ("SO305", "System missing or repeated",
     "A spec tree describes exactly one System (environments, image, repository).",
     "Add one System resource, or remove the extra ones."),
    # ------------------------------------------------------------ check
    ("SO401", "feature computed from labels",
     "A feature set reads the label source: the outcome leaks into the features (target leakage).",
     "Build features from event data only."),
    ("SO402", "label source is not a labels data source",
     "A model's label.source must be a DataSource of type 'labels' that declares the outcome and its availability delay.",
     "Point label.source at a labels data source."),
    ("SO403", "validation gap shorter than label horizon",
     "With a gap shorter than the horizon, training rows' labels look into the test window.",
     "Set validation.gap to at least label.horizon."),
    ("SO404", "training window too short",
     "The training window cannot hold minTrainWindow + gap + folds x testWindow + horizon + label delay.",
     "Lengthen retrain.trainingWindow or shrink the validation windows."),
    ("SO405", "objective needs matured labels",
     "A realized-quality objective's window is shorter than horizon + label availability delay, so it would be "
     "evaluated on labels that have not arrived yet.",
     "Lengthen the window, or use an estimated_* metric."),
    ("SO406", "retraining faster than labels mature",
     "Retraining more often than labels arrive means most runs see no new labels (warning).",
     "Retrain less often, or trigger on drift."),
    ("SO407", "window longer than retained history",
     "An aggregation window needs more history than the data source retains.",
     "Shorten the window or extend the retention."),
    ("SO410", "imbalanced task without imbalance-aware gate",
     "With rare positives, accuracy and ROC-AUC look good for a useless model. Gate on PR-AUC or recall at precision.",
     "Add a gate on pr_auc or recall_at_precision."),
    ("SO411", "accuracy gate on imbalanced task",
     "Accuracy is dominated by the majority class (warning).",
     "Replace the accuracy gate."),
    ("SO412", "no imbalance handling",
     "The expected positive rate is low but no imbalance strategy is set (warning).",
     "Set imbalance.strategy."),
    ("SO420", "deployed model without ServiceLevel",
     "Every model served in an environment needs a ServiceLevel with objectives that trigger actions.",
     "Add a ServiceLevel for the model covering that environment."),
    ("SO421", "page action without notifier",
     "An objective pages a human but nobody would be notified.",
     "List a System notifier in the ServiceLevel's notify."),
    ("SO422", "open_circuit action without circuit breaker",
     "An objective opens the circuit but no circuit breaker (with its fallback) is declared.",
     "Add spec.circuitBreaker with a fallback."),
    ("SO423", "previous_model fallback without a previous release",
     "The circuit breaker falls back to the previous model, but in this cloud environment the model is served by a "
     "champion alone: no release in git is the previous one (only a canary replaces a champion), so the predictor "
     "would refuse to start.",
     "Use conservative_rule or human_review, or limit the ServiceLevel to environments with a canary."),
    ("SO430", "plaintext secret",
     "A password, token or key is written into a spec. Specs live in git; secrets never do.",
     "Store it in a Kubernetes Secret and reference it with secretRef {name, key}."),
    ("SO440", "mutable artifact URI",
     "A release's artifact URI must be immutable: it names the version or the sha256, never 'latest'.",
     "Use a versioned path."),
    ("SO441", "canary step does not exist",
     "A canary deployment refers to a step the model does not declare.",
     "Use a step index within serving.canary.steps, or declare canary steps."),
    ("SO442", "conflicting deployment roles",
     "An environment has more than one champion (or canary/shadow), or a canary/shadow without a champion.",
     "One champion per environment, plus at most one canary or shadow."),
    ("SO443", "not enough approvals",
     "Deploying to this environment requires more distinct approvals (from the environment and risk policies).",
     "Add approvals in a reviewed pull request."),
    ("SO444", "release deploys where the model is not served",
     "The release names an environment missing from the model's serving.environments.",
     "Add the environment to the model first."),
    ("SO445", "approval before training",
     "An approval is dated before the end of the model's training data.",
     "Approve after the model was trained."),
    ("SO446", "version released twice",
     "Two releases carry the same model version.",
     "Bump the version."),
    ("SO447", "canary step above policy maximum",
     "A risk policy caps the canary traffic percent for this model.",
     "Take a smaller step."),
    ("SO450", "unknown column or feature",
     "A feature set or model refers to a column or feature that is not declared.",
     "Fix the name (see the did-you-mean hint)."),
    ("SO451", "aggregation needs a numeric column",
     "sum/mean/min/max/std need an int or float column.",
     "Use count, last or time_since_last, or another column."),
    ("SO452", "PII used as a feature",
     "A field marked pii: true may not become a model feature.",
     "Drop it from the feature set."),
    ("SO453", "feature defined twice",
     "Two features share a name within a feature set or across a model's feature sets.",
     "Rename, or pick with 'include'."),
    ("SO454", "entity mismatch",
     "A model's feature sets must be keyed by the model's entity.",
     "Use feature sets keyed by the same entity."),
    ("SO455", "online stream does not match the batch source",
     "The stream feeding the online store must be a stream data source carrying every column the features read, "
     "with the same types; otherwise serving computes different features than training (skew).",
     "Point online.stream at a matching stream data source."),
    ("SO456", "online ttl shorter than a window",
     "The online store forgets an entity after online.ttl; a window longer than that is computed from less history "
     "online than in the batch training table, so idle entities are served different features (warning; the parity "
     "step reports the mismatches).",
     "Set online.ttl to at least the longest window of the feature set."),
    ("SO460", "field declared twice",
     "A data source declares the same field twice.",
     "Remove one."),
    ("SO461", "key column not declared",
     "The entity, timestamp or outcome column is not among the data source's fields.",
     "Declare it under spec.fields."),
    ("SO462", "key column has the wrong type",
     "The timestamp column must have type timestamp; entity keys are never nullable.",
     "Fix the field's type or nullability."),
    ("SO463", "stream without freshness",
     "A stream without a freshness objective can stall silently (warning).",
     "Add spec.freshness.maxAge."),
    ("SO495", "sample data source unusable",
     "System.spec.sampleData names its events and labels sources; the events must be a 'file' DataSource and the "
     "labels a 'labels' DataSource read from files, in separate folders, because generate-data writes files "
     "there and owns each folder whole.",
     "Point sampleData.events / sampleData.labels at such DataSources, in folders that do not overlap."),
    ("SO496", "sample data does not fit the contract",
     "The embedded generator produces a fixed set of columns (events: asset_id, event_time, asset_type, criticality, "
     "temperature, vibration, pressure, rpm, technician_email; labels: asset_id, failure_time, failed, ticket_id) "
     "and asset types pump and turbine. A source it writes declares a field it cannot fill, with another type, or "
     "a category that rejects generated values.",
     "Declare only generated fields (with their types and values) in the sample sources, or remove sampleData."),
    ("SO497", "sample drift quarantined by the contract",
     "The sampleData drift scenario adds an asset type the events source does not declare, so validate-data "
     "quarantines those rows instead of passing the drift on to monitoring (warning).",
     "Declare the type among the category values if it is legitimate data; keep it to test the quarantine."),
    ("SO470", "promotion order not unique",
     "Environments are promoted in order; two share the same position.",
     "Give each environment a distinct promotionOrder."),
    ("SO471", "edge environment without edge export",
     "Edge gateways run the signed edge bundle; the model must export one.",
     "Enable export.edge."),
    ("SO472", "edge export unused",
     "An edge bundle is exported but no edge environment serves it (warning).",
     "Serve in an edge environment or disable the export."),
    ("SO473", "reserved environment name",
     "Each environment's manifests live in generated/<environment>/; 'argocd', 'runtime' and 'terraform' are taken "
     "by the Argo CD bootstrap folder, the runtime configs and the Terraform variables.",
     "Rename the environment."),
    ("SO474", "edge environment without a trusted key",
     "Edge runners verify every bundle with the System's Ed25519 public key (spec.edge.trustedKey), mounted "
     "into their pods; without it they refuse every bundle and never become ready.",
     "Set spec.edge.trustedKey to a configMapRef (or secretRef) holding the public key."),
    ("SO475", "edge environment without a signing key",
     "In a cluster, export-onnx signs edge bundles with the System's Ed25519 private key (spec.edge.signingKey); "
     "without it the bundle is signed with a throwaway key, which production edge runners refuse.",
     "Set spec.edge.signingKey to a secretRef holding the private key (PEM PKCS#8 or the raw 32-byte seed)."),
    ("SO476", "edge bundle storage too small",
     "The edge runner keeps the current bundle, the previous one and one being checked on its claim "
     "(spec.edge.bundleStorage.size); it must hold three of the largest edge bundle served there.",
     "Raise spec.edge.bundleStorage.size, or lower the model's export.edge.maxSizeBytes."),
    ("SO490", "invalid S3 bucket name",
     "The bucket of artifacts.uri is created by terraform/ (modules/artifact-bucket); S3 refuses this name, so the "
     "apply would fail after the pull request merged.",
     "Use 3-63 lowercase letters, digits, dots or hyphens, starting and ending with a letter or digit."),
    ("SO491", "artifact store not provisioned",
     "terraform/ creates the artifact bucket only on S3; a gs://, az:// or abfs:// store must already exist "
     "(warning).",
     "Create the bucket (versioned, private, encrypted) before the first run, or move the artifacts to s3://."),
    ("SO485", "objective bound on the wrong side",
     "Each objective metric breaches in one direction (latency, error rate, drift, backlog when too high; availability "
     "and quality when too low). A bound on the other side compiles into no alert that could ever fire usefully.",
     "Write 'max:' for metrics that breach when too high and 'min:' for availability and quality."),
    ("SO486", "objective window too short for its rule",
     "Prometheus scrapes every 30s; a rule over fewer than 4 scrapes (2m) sees too few samples to fire reliably. "
     "Availability is alerted by burn rate over window/12, so its window must be at least 24m.",
     "Lengthen the objective's window (see the hint for the minimum)."),
    ("SO487", "objective name used twice",
     "Objective names label the generated alerts (objective=...); two objectives with one name in a ServiceLevel "
     "make their alerts indistinguishable.",
     "Give each objective of the ServiceLevel a distinct name."),
    ("SO488", "ServiceLevel enforced nowhere",
     "The ServiceLevel lists only environments where its model is not served in the cloud, so no Prometheus rule "
     "would enforce its objectives (edge gateways run no Prometheus).",
     "List environments where the model is served, or remove spec.environments to cover all of them."),
    # ----------------------------------------------------------- policy
    ("SO480", "unknown admission variable",
     "An admission rule reads variables.<name> that its policy does not provide. The compiler provides "
     "variables.containers, variables.model, variables.requiredApprovals, and variables.maxCanaryPercent when the "
     "policy sets maxCanaryPercent.",
     "Use one of the provided variables, or set spec.maxCanaryPercent on the policy."),
    ("SO481", "admission rule on Argo CD Applications",
     "Argo CD Applications live in the Argo CD namespace, outside every environment's namespace, so no "
     "environment's admission binding can check them; the rule would never run.",
     "Check the System's gitops settings with a 'spec' rule (subject: System), or drop the kind."),
    ("SO501", "risk policy violated",
     "A 'spec' rule of a risk policy evaluated to false for this resource. The message and rule id come from policies/.",
     "Change the spec to satisfy the rule (the hint shows it); policy changes need their own review."),
    ("SO502", "CEL syntax error",
     "A rule's expression does not parse as CEL.",
     "Fix the expression; CEL reference: https://cel.dev."),
    ("SO503", "CEL type or evaluation error",
     "A rule uses a variable its target does not provide, compares unlike types, reads a missing field without has(), "
     "or does not evaluate to a boolean. spec rules see: resource, model, system, environments, serviceLevels, "
     "releases, featureSets, dataSources, policy. admission rules see: object, oldObject, request, params, "
     "namespaceObject, variables. prediction rules see: score, threshold, decision, confidence, model, entity, features, "
     "featureAgeSeconds, environment.",
     "Guard optional fields with has(x.y), compare like types (1.0 vs 1), and return a boolean."),
    ("SO504", "policy selects nothing",
     "A risk policy's selector matches no model (warning).",
     "Fix the selector, or delete the policy."),
    ("SO601", "inconsistent generated workflow",
     "An emitted Argo workflow refers to a template, task, artifact or parameter that does not exist. "
     "The compile stops instead of writing output a cluster would reject; this is a compiler bug.",
     "Report it with the specs that trigger it."),
    ("SO602", "denied by the cluster's own admission policy",
     "The offline admission dry run evaluated every emitted ValidatingAdmissionPolicy (compiled from the "
     "'admission' rules in policies/) against every emitted object its binding matches, as the API server would on "
     "the Argo CD sync, and one of them would deny this object. The message names the manifest, the object, the rule "
     "id with its policy file:line and the spec resources the object was built from.",
     "Change the spec the object comes from so it satisfies the rule (e.g. add the approvals the release needs, "
     "take a smaller canary step, pin the image by digest); changing the rule itself is a reviewed policy change."),
    ("SO603", "admission rule cannot be evaluated offline",
     "An admission rule (or one of its compiled variables or its 'when') fails to evaluate on an emitted object it "
     "applies to: a missing field read without has(), unlike types, a non-boolean result, or a function only a "
     "Kubernetes API server provides. With failurePolicy Fail the cluster would deny the object, and the compile "
     "cannot show otherwise, so it is an error rather than a silent pass.",
     "Guard optional fields with has(), compare like types, and use standard CEL functions."),
    ("SO604", "admission output the dry run cannot model",
     "An emitted admission binding names a policy that is not emitted to the same cluster, does not deny, or uses "
     "a field the offline dry run does not model. This is a compiler bug.",
     "Report it with the specs that trigger it."),
    ("SO610", "inconsistent generated SLO rules",
     "A generated PrometheusRule failed the offline check: an invalid name, an alert without its action, severity, "
     "model, environment, objective or service_level label, an alert defined twice, or an alert reading a recording "
     "no earlier rule of its group writes. The compile stops instead of writing it; this is a compiler bug.",
     "Report it with the specs that trigger it."),
    ("SO650", "human review needs a shared, durable review store",
     "A model with spec.review is served in a cloud environment, but the System's reviewStore is SQLite. SQLite is "
     "the embedded default for one machine; in a pod it is a file per replica that a restart loses, so escalated "
     "predictions (and their audit records) would vanish and reviewers would see only one replica's queue.",
     "Set the System's spec.reviewStore to backend: postgres with connection.secretRef naming the DSN Secret."),
)

CODES: dict[str, CodeInfo] = {c: CodeInfo(c, t, e, f) for c, t, e, f in _CATALOG}
