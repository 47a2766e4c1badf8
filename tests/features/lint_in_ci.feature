Feature: Spec linting in CI
  Every pull request that touches specs/ or policies/ runs `specops lint specs/`.
  The job passes when the specs are clean, and fails with exit code 1 when they
  have errors, pointing at the file, line and column of each problem with a
  hint on how to fix it. The same report can be uploaded to GitHub code
  scanning (SARIF) or shown as annotations on the pull request diff.
  `specops lint` reads the risk policies in the nearest policies/ folder above
  the specs, so the policies apply without extra flags.

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
