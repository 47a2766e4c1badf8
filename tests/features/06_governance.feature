Feature: 6. Governance: approvals that are enforced, humans in the loop, an audit trail
  Stage 6 of 6 (Design -> Data Engineering -> Model Development -> Deployment -> Operations -> Governance).
  A risk policy says how many approvals a production release needs, and the
  same number is checked three times: `specops lint` refuses the release
  (SO443), `specops compile` writes nothing for it, and the
  ValidatingAdmissionPolicy compiled from the policy refuses an
  InferenceService without enough approvals, should one reach the cluster
  some other way. A pull request that loosens a high-risk model's gates is
  governed like a release. A prediction the policy sends to a human (rule
  HR-010: a predicted failure of a critical asset) waits in the durable
  review queue; reviewers work it with `specops review`, every action is in
  the hash-chained audit log that `specops audit verify` checks, and
  reviewer decisions become labels for the next training run.

  Background:
    Given a copy of the example repository

  Scenario: An unapproved release cannot reach production: lint, compile and the admission policy all refuse it
    When I remove "spec.approvals[1]" of "pump-failure-1-4-0" in "specs/releases/pump-failure.yaml"
    And I run "specops lint specs/"
    Then the exit code is 1
    And the output contains a located error "SO443" at the line of "{environment: prod, role: canary, canaryStep: 0}" in "specs/releases/pump-failure.yaml"
    And the message says "needs 2 distinct approval(s) with role ml-lead or risk-officer"
    And the message says "has 1"
    When I run "specops compile specs/ --out generated/"
    Then the exit code is 1
    And the output contains a located error "SO443" at the line of "{environment: prod, role: canary, canaryStep: 0}" in "specs/releases/pump-failure.yaml"
    And no file was written
    And the committed admission policy "predictive-maintenance-prod-hr-020" requires 2 approvals for "pump-failure"
    When "generated/prod/inferenceservice-pump-failure.yaml" is applied by hand with annotation "specops.dev/approvals" set to "1"
    Then the cluster denies it with rule "HR-020" naming "policies/high-risk.yaml"
    When "generated/prod/inferenceservice-pump-failure.yaml" is applied by hand without annotation "specops.dev/approvals"
    Then the cluster denies it with rule "HR-020" naming "policies/high-risk.yaml"

  Scenario: An approval by a role the policy does not name does not count, in lint or in the cluster
    When I change "spec.approvals[1].role" of "pump-failure-1-4-0" in "specs/releases/pump-failure.yaml" to "data-scientist"
    And I run "specops compile specs/ --out generated/"
    Then the exit code is 1
    And the output contains a located error "SO443" at the line of "{environment: prod, role: canary, canaryStep: 0}" in "specs/releases/pump-failure.yaml"
    And the message says "has 1"
    And no file was written
    When "generated/prod/inferenceservice-pump-failure.yaml" is applied by hand with annotation "specops.dev/approvals" set to "1"
    Then the cluster denies it with rule "HR-020" naming "policies/high-risk.yaml"

  Scenario: The approved release, as committed, is admitted by every policy of its namespace
    When "generated/prod/inferenceservice-pump-failure.yaml" is applied by hand as committed
    Then the cluster admits it, checked by "HR-020, HR-021, PB-010, PB-011"

  Scenario: A PR that lowers the canary gate of a high-risk model needs two approvals
    # A canary that may fail 5% of its requests instead of 1% before it is
    # rolled back loosens the gate the rollout must pass.
    Given the copy is a git repository with everything committed
    When I change "spec.serving.canary.analysis.maxErrorRate" in "specs/models/pump-failure.yaml" to "0.05"
    And I run "specops plan --base HEAD --format json"
    Then the exit code is 0
    And the plan says "Model/pump-failure" "spec.serving.canary.analysis.maxErrorRate" was loosened from "0.01" to "0.05"
    And the plan requires 2 approvals from "ml-lead, risk-officer" for "pump-failure" in "prod", required by "RiskPolicy/high-risk-governance"
    And the plan requires 2 approvals from "ml-lead, risk-officer" for "pump-failure" in "edge", required by "RiskPolicy/high-risk-governance"
    And every approval the plan asks for gives "Model/pump-failure:spec.serving.canary.analysis.maxErrorRate" as its reason
    And no release record carries them: the approvals are asked of the pull request's reviewers
    And the plan requires no approvals in "staging"
    And no file was written

  Scenario: High-risk predictions wait for a human
    Given the review server of the example system is running
    When the model scores 0.91 for the critical asset "pump-0007"
    And the model scores 0.91 for the low-criticality asset "pump-0100"
    Then the prediction for "pump-0007" waits in the review queue, escalated by rule "HR-010"
    And no prediction for "pump-0100" is in the review queue
    When I run "specops review list"
    Then the exit code is 0
    And the output mentions "pump-0007"
    When I run "specops review claim --reviewer alice"
    Then the exit code is 0
    When reviewer "alice" decides the claimed item with "--approve" because "bearing temperature confirms it"
    Then the exit code is 0
    And the audit log records "review.enqueued, review.claimed, review.decided" for the prediction
    When I run "specops audit verify"
    Then the exit code is 0
    And the output mentions "audit chain OK: 3 record(s)"
    When someone rewrites the actor of audit record 2 in the review store
    And I run "specops audit verify"
    Then the exit code is 1
    And the output mentions "BROKEN at record seq=2"

  Scenario: A reviewer override becomes a training label
    Given the review server of the example system is running
    When the model scores 0.91 for the critical asset "pump-0007"
    And I run "specops review export-labels"
    Then the exit code is 0
    And the label export has 0 rows
    When I run "specops review claim --reviewer alice"
    And reviewer "alice" decides the claimed item with "--override" because "vibration spike was a sensor recalibration"
    And I run "specops review export-labels"
    Then the exit code is 0
    And the label export has 1 row: "pump-0007" did not fail, known from the decision time
    And the label export's content hash changed
    And the label file is where the labels source "failure-labels" reads its files
