Feature: 1. Design: the system is specs in git, checked before anything runs
  Stage 1 of 6 (Design -> Data Engineering -> Model Development -> Deployment -> Operations -> Governance).
  The whole ML system is declared in specs/ (System, DataSource, FeatureSet,
  Model, ModelRelease, ServiceLevel) and governed by the risk policies in
  policies/. Every pull request that touches them runs `specops lint specs/`,
  which fails with exit code 1 and points at the file, line and column of
  each problem with a hint on how to fix it (also as SARIF for code scanning
  and as annotations on the diff). `specops compile --check` fails when the
  committed generated/ folder is not what the specs compile to, and a
  compile that breaks a rule writes nothing. `specops plan --base` tells the
  reviewers what the change does and who must approve it.

  Background:
    Given a copy of the example repository

  Scenario: A clean pull request passes
    When I run "specops lint specs/"
    Then the exit code is 0
    And the summary line says 0 errors

  Scenario: A PR that shortens the validation gap below the label horizon fails with a located message
    When I change "spec.validation.gap" in "specs/models/pump-failure.yaml" to "12h"
    And I run "specops lint specs/"
    Then the exit code is 1
    And the output contains a located error "SO403" at the line of "gap: 12h" in "specs/models/pump-failure.yaml"
    And the caret points at "12h"
    And the hint says "set validation.gap to at least 24h"
    And the summary line says 1 errors

  Scenario Outline: A PR with a typo in a field name gets a did-you-mean
    When I rename the field "<field>" in "<file>" to "<typo>"
    And I run "specops lint specs/"
    Then the exit code is 1
    And the output contains a located error "SO201" at the line of "<typo>:" in "<file>"
    And the caret points at "<typo>"
    And the hint says "did you mean '<intended>'?"

    Examples:
      | file                           | field                                | typo               | intended            |
      | specs/models/pump-failure.yaml | spec.validation.earlyStoppingRounds  | earlyStopingRounds | earlyStoppingRounds |
      | specs/slos/pump-failure.yaml   | spec.circuitBreaker.failureThreshold | failureTreshold    | failureThreshold    |
      | specs/system.yaml              | spec.gitops.targetRevision           | targetRevison      | targetRevision      |

  Scenario Outline: A PR that puts a password in a connection URL is rejected
    When I change "<field>" of "<resource>" in "<file>" to "<url>"
    And I run "specops lint specs/"
    Then the exit code is 1
    And the output contains a located error "SO430" at the line of "<url>" in "<file>"
    And the message says "plaintext secret: a URL contains a password"
    And the hint says "secretRef"

    Examples:
      | file                          | resource               | field               | url                                                         |
      | specs/system.yaml             | predictive-maintenance | spec.gitops.repoUrl | https://deploy:hunter2@git.acme.example/platform/pm.git     |
      | specs/system.yaml             | predictive-maintenance | spec.artifacts.uri  | s3://ci-bot:s3cr3t@acme-ml-artifacts/predictive-maintenance |
      | specs/data/sensor-events.yaml | sensor-stream          | spec.stream.url     | nats://ingest:hunter2@127.0.0.1:4222                        |

  Scenario: A PR that removes the human escalation of a high-risk model violates the risk policy
    When I remove "spec.review" from "specs/models/pump-failure.yaml"
    And I run "specops lint specs/"
    Then the exit code is 1
    And the output contains a located error "SO501" at the line of "name: pump-failure" in "specs/models/pump-failure.yaml"
    And the message says "[HR-001]"
    And the message says "escalates to a human reviewer"
    And the hint says "required by risk policy 'high-risk-governance' (policies/high-risk.yaml)"

  Scenario: A PR that deploys a release to prod without the two approvals is blocked
    When I remove "spec.approvals[1]" of "pump-failure-1-4-0" in "specs/releases/pump-failure.yaml"
    And I run "specops lint specs/"
    Then the exit code is 1
    And the output contains a located error "SO443" at the line of "{environment: prod, role: canary" in "specs/releases/pump-failure.yaml"
    And the message says "to 'prod' needs 2 distinct approval(s) with role ml-lead or risk-officer"
    And the message says "has 1"

  Scenario: A PR that breaks the YAML gets a located syntax error instead of a crash
    When I change "spec.validation.gap" in "specs/models/pump-failure.yaml" to "[24h"
    And I run "specops lint specs/"
    Then the exit code is 1
    And the output contains a located error "SO101" in "specs/models/pump-failure.yaml"

  Scenario: A misconfigured CI job is told apart from bad specs
    When I run "specops lint specs/ --format xml"
    Then the exit code is 2

  Scenario Outline: The report can be uploaded to GitHub code scanning
    When I change "spec.validation.gap" in "specs/models/pump-failure.yaml" to "<gap>"
    And I run "specops lint specs/ --format sarif -o reports/specops.sarif"
    Then the exit code is <exit>
    And "reports/specops.sarif" is a valid SARIF 2.1.0 log
    And "reports/specops.sarif" has <results> result(s), each with a file and a line

    Examples:
      | gap | exit | results |
      | 2d  | 0    | 0       |
      | 12h | 1    | 1       |

  Scenario: SARIF results point at the offending line
    When I change "spec.validation.gap" in "specs/models/pump-failure.yaml" to "12h"
    And I run "specops lint specs/ --format sarif -o reports/specops.sarif"
    Then "reports/specops.sarif" has a result "SO403" at the line of "gap: 12h" in "specs/models/pump-failure.yaml"

  Scenario: Annotations for GitHub Actions
    When I change "spec.validation.gap" in "specs/models/pump-failure.yaml" to "12h"
    And I remove "spec.review" from "specs/models/pump-failure.yaml"
    And I run "specops lint specs/ --format github"
    Then the exit code is 1
    And every output line is a GitHub workflow command
    And there is an "error" annotation "SO403" at the line of "gap: 12h" in "specs/models/pump-failure.yaml"
    And there is an "error" annotation "SO501" at the line of "name: pump-failure" in "specs/models/pump-failure.yaml"

  Scenario: A new release for staging changes exactly staging's InferenceService and serve configuration
    When I add "specs/releases/pump-failure-1-5-0.yaml":
      """
      # The next challenger, first as the champion in staging.
      apiVersion: specops.dev/v1alpha1
      kind: ModelRelease
      metadata:
        name: pump-failure-1-5-0
      spec:
        model: pump-failure
        version: 1.5.0
        artifact:
          uri: s3://acme-ml-artifacts/predictive-maintenance/pump-failure/1.5.0/model.onnx
          sha256: 7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0a7e3c1b9d8f6e5a4b3c2d1e0f9a8b
          sizeBytes: 1510912
        trainingData:
          hash: 3a2b1c0d9e8f7a6b5c4d3e2f1a0a7e3c1b9d8f6e5a4b3c2d1e0f9a8b7c6d5e4f
          start: 2026-06-01
          end: 2026-11-30
        metrics: {pr_auc: 0.37, roc_auc: 0.92, recall_at_precision_0_5: 0.45, ece: 0.017, brier: 0.022}
        approvals:
          - {approver: dana@acme.example, role: ml-lead, date: 2026-12-08, reason: Beats 1.4.0 on the December holdout}
          - {approver: omar@acme.example, role: risk-officer, date: 2026-12-09, reason: Staging soak before a prod canary}
        deployments:
          - {environment: staging, role: champion}
      """
    # 1.4.0 leaves staging (one champion per environment) and stays the prod canary.
    And I remove "spec.deployments[0]" of "pump-failure-1-4-0" in "specs/releases/pump-failure.yaml"
    And I run "specops compile specs/ --out generated/ --check"
    Then the exit code is 1
    And the command lists exactly these files:
      | status  | file                                                        |
      | missing | generated/staging/configmap-pump-failure-serve-1-5-0-*.yaml |
      | stale   | generated/staging/inferenceservice-pump-failure.yaml        |
      | stale   | generated/manifest.json                                     |
      | extra   | generated/staging/configmap-pump-failure-serve-1-4-0-*.yaml |
    And the output says "run `specops compile` and commit the result"
    And no file was written

    When I run "specops compile specs/ --out generated/"
    Then the exit code is 0
    And the command lists exactly these files:
      | status  | file                                                        |
      | created | generated/staging/configmap-pump-failure-serve-1-5-0-*.yaml |
      | updated | generated/staging/inferenceservice-pump-failure.yaml        |
      | updated | generated/manifest.json                                     |
      | deleted | generated/staging/configmap-pump-failure-serve-1-4-0-*.yaml |
    And exactly the listed files changed on disk
    And no file in "generated/prod" or "generated/edge" changed
    And "generated/staging/inferenceservice-pump-failure.yaml" serves release "pump-failure-1-5-0"

    When I run "specops compile specs/ --out generated/ --check"
    Then the exit code is 0

  Scenario Outline: A pull request that breaks a rule stops the compile before anything is written
    When I change "<field>" of "<resource>" in "<file>" to "<value>"
    And I run "specops compile specs/ --out generated/"
    Then the exit code is 1
    And the output contains a located error "<code>" at the line of "<line>" in "<file>"
    And the message says "<message>"
    And the output says "compile: stopped by the errors above; nothing was written"
    And no file was written

    Examples: the canary grows beyond the high-risk policy's maxCanaryPercent (25%)
      | file                             | resource           | field                          | value | code  | line          | message                                                                 |
      | specs/releases/pump-failure.yaml | pump-failure-1-4-0 | spec.deployments[1].canaryStep | 2     | SO447 | canaryStep: 2 | canary at 50% exceeds RiskPolicy/high-risk-governance's maximum of 25%  |
      | specs/releases/pump-failure.yaml | pump-failure-1-4-0 | spec.deployments[1].canaryStep | 3     | SO447 | canaryStep: 3 | canary at 100% exceeds RiskPolicy/high-risk-governance's maximum of 25% |

    Examples: the validation gap falls below the label horizon
      | file                           | resource     | field               | value | code  | line     | message                                                  |
      | specs/models/pump-failure.yaml | pump-failure | spec.validation.gap | 12h   | SO403 | gap: 12h | validation gap 12h is shorter than the label horizon 24h |

  Scenario: Removing the challenger release prunes what only it produced and leaves hand-written files alone
    # Without 1.4.0, prod runs 1.3.0 alone and staging serves no model at all:
    # its InferenceService, and the monitor and feature ingester serving needs, go too.
    Given a hand-written file "generated/NOTES.md"
    When I remove the resource "pump-failure-1-4-0" from "specs/releases/pump-failure.yaml"
    And I run "specops compile specs/ --out generated/"
    Then the exit code is 0
    And the command lists exactly these files:
      | status  | file                                                        |
      | created | generated/prod/configmap-pump-failure-serve-1-3-0-*.yaml    |
      | updated | generated/prod/inferenceservice-pump-failure.yaml           |
      | updated | generated/staging/rolebinding-specops-runner.yaml           |
      | updated | generated/manifest.json                                     |
      | deleted | generated/prod/configmap-pump-failure-serve-1-4-0-*.yaml    |
      | deleted | generated/staging/configmap-pump-failure-serve-1-4-0-*.yaml |
      | deleted | generated/staging/inferenceservice-pump-failure.yaml        |
      | deleted | generated/staging/configmap-pump-failure-monitor-config.yaml |
      | deleted | generated/staging/cronworkflow-pump-failure-monitor.yaml    |
      | deleted | generated/staging/role-specops-monitor.yaml                 |
      | deleted | generated/staging/rolebinding-specops-monitor.yaml          |
      | deleted | generated/staging/serviceaccount-specops-monitor.yaml       |
      | deleted | generated/staging/configmap-ingest-sensor-stream-config.yaml |
      | deleted | generated/staging/deployment-ingest-sensor-stream.yaml       |
      | deleted | generated/staging/prometheusrule-pump-failure-slo.yaml      |
      | deleted | generated/staging/servicemonitor-pump-failure-predictor.yaml |
    And exactly the listed files changed on disk
    And every deleted file was listed in the previous "generated/manifest.json"
    And the hand-written "generated/NOTES.md" is untouched
    And the hand-written "generated/README.md" is untouched
    And "generated/prod/inferenceservice-pump-failure.yaml" serves release "pump-failure-1-3-0" without a canary

  Scenario: A PR that lowers a high-risk model's gate needs the approvals the policy names
    # pump-failure is high risk; RiskPolicy/high-risk-governance asks for two
    # approvals (ml-lead or risk-officer) in prod and on the edge.
    Given the copy is a git repository with everything committed
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
    Given the copy is a git repository with everything committed
    When I change "spec.gates[0].min" in "specs/models/pump-failure.yaml" to "0.2"
    And I run "specops plan --base HEAD --format markdown"
    Then the exit code is 0
    And the output says "| pump-failure | prod | 2 | ml-lead, risk-officer | RiskPolicy/high-risk-governance"
    And the output says "spec.gates[pr_auc].min: 0.25 -> 0.2 [loosened]"
    And the approvals table comes before the first collapsed section
