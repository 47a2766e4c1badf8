Feature: A spec change in a pull request
  What runs in the clusters changes only through a pull request that edits the
  specs. CI runs `specops compile specs/ --out generated/ --check`, which writes
  nothing and fails with the list of generated files that are stale, missing
  or extra; the author runs `specops compile specs/ --out generated/` and
  commits the result. A change touches exactly the files it should, and a
  change that breaks a rule is stopped before anything is written.

  Background:
    Given a copy of the example repository

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

  Scenario: Moving the production canary to the next step changes only its traffic split
    # canaryStep indexes the model's steps [10, 25, 50, 100]: 10% -> 25%.
    When I change "spec.deployments[1].canaryStep" of "pump-failure-1-4-0" in "specs/releases/pump-failure.yaml" to "1"
    And I run "specops compile specs/ --out generated/"
    Then the exit code is 0
    And the command lists exactly these files:
      | status  | file                                              |
      | updated | generated/prod/inferenceservice-pump-failure.yaml |
      | updated | generated/manifest.json                           |
    And exactly the listed files changed on disk
    And the only change in the spec of "generated/prod/inferenceservice-pump-failure.yaml" is "/spec/predictor/canaryTrafficPercent" from 10 to 25

  Scenario: Argo CD applies the next canary step
    Argo CD ignores canaryTrafficPercent so that sync never undoes a rollback,
    and it syncs automatically only an Application that is OutOfSync. The
    pull request that moves the canary must therefore also change something
    Argo CD does not ignore, or the new step never reaches the cluster.

    When I change "spec.deployments[1].canaryStep" of "pump-failure-1-4-0" in "specs/releases/pump-failure.yaml" to "1"
    And I run "specops compile specs/ --out generated/"
    Then the exit code is 0
    And Argo CD sees "generated/prod/inferenceservice-pump-failure.yaml" out of sync: a changed path is not ignored by the Application that syncs "generated/prod"

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
