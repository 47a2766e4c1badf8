Feature: Governance is executable: an unapproved release never reaches production
  A risk policy says how many approvals a production release needs. The same
  number is checked three times: `specops lint` refuses the release (SO443),
  `specops compile` refuses to write output for it, and the
  ValidatingAdmissionPolicy compiled from the policy's admission rule refuses
  an InferenceService that does not carry enough approvals, should one reach
  the cluster some other way (a hand edit, a bypassed pipeline).

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
