Feature: specops plan on a pull request
  Before a pull request is merged, `specops plan --base main` tells its
  reviewers what it changes in the cluster, what the change means, and who
  must approve it. The risk policies decide the approvals, and a change
  that loosens a high-risk model's gate is governed like a release.

  Background:
    Given a copy of the example repository
    And the copy is a git repository with everything committed

  Scenario: A PR that lowers a high-risk model's gate needs the approvals the policy names
    # pump-failure is high risk; RiskPolicy/high-risk-governance asks for two
    # approvals (ml-lead or risk-officer) in prod and on the edge.
    When I change "spec.gates[0].min" in "specs/models/pump-failure.yaml" to "0.2"
    And I run "specops plan --base HEAD --format json"
    Then the exit code is 0
    And the plan says "Model/pump-failure" "spec.gates[pr_auc].min" was loosened from "0.25" to "0.2"
    And the plan requires 2 approvals from "ml-lead, risk-officer" for "pump-failure" in "prod", required by "RiskPolicy/high-risk-governance"
    And the plan requires 2 approvals from "ml-lead, risk-officer" for "pump-failure" in "edge", required by "RiskPolicy/high-risk-governance"
    And no release record carries them: the approvals are asked of the pull request's reviewers
    And the plan requires no approvals in "staging"
    And no file was written

  Scenario: The same PR as a pull-request comment puts the approvals first
    When I change "spec.gates[0].min" in "specs/models/pump-failure.yaml" to "0.2"
    And I run "specops plan --base HEAD --format markdown"
    Then the exit code is 0
    And the output says "| pump-failure | prod | 2 | ml-lead, risk-officer | RiskPolicy/high-risk-governance"
    And the output says "spec.gates[pr_auc].min: 0.25 -> 0.2 [loosened]"
    And the approvals table comes before the first collapsed section
