Feature: 4. Deployment: GitOps to the clusters, canary steps, verified edge bundles
  Stage 4 of 6 (Design -> Data Engineering -> Model Development -> Deployment -> Operations -> Governance).
  The compiled generated/ folder is committed, and Argo CD reconciles the
  clusters from it: one AppProject that limits where and what may be
  deployed, one Application per cloud environment and one ApplicationSet
  for the edge gateways, each syncing one folder generated/<env>/ in a safe
  order. A canary grows one step per pull request and Argo CD never fights
  the runtime's one permitted change in a cluster: an automated rollback
  that sets a canary's traffic to 0. An edge gateway runs `python -m runtime
  edge`: it switches to a new signed bundle only after the Ed25519 signature
  (checked with the key the gateway trusts, never one from the bundle),
  every checksum and a health check on golden inputs pass; a refused bundle
  never serves, the previous one keeps answering, and the refusal is counted
  and written as an incident.

  Background:
    Given a copy of the example repository

  Scenario: The committed generated/ folder is exactly what a compile produces
    When I run "specops compile specs/ --out generated/ --check"
    Then the exit code is 0
    And the output says "files up to date"
    And no file was written

  Scenario: A fresh compile passes the Argo CD consistency check
    When the specs are compiled
    Then the Argo CD consistency check finds no problems

  Scenario: Every environment folder holds only allowed Kubernetes manifests, each synced by exactly one Application
    Then every folder under "generated" that holds Kubernetes manifests is synced by exactly one Application or ApplicationSet
    And every file in a synced folder is a ".yaml" file of Kubernetes manifests with apiVersion, kind and metadata.name
    And every manifest in a synced folder is of a kind the AppProject "predictive-maintenance" allows
    And every namespaced manifest in a synced folder lives in its Application's destination namespace

  Scenario Outline: Sync waves create namespaces first, then RBAC and configuration, then workflows, then serving
    Then every manifest in "generated/<env>" has a sync wave, and the waves follow this order:
      | stage                  | kinds                                                                                              |
      | namespace              | Namespace                                                                                          |
      | RBAC and configuration | ServiceAccount, Role, RoleBinding, ConfigMap, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding, PrometheusRule, ServiceMonitor |
      | workflows              | WorkflowTemplate, CronWorkflow                                                                     |
      | serving                | Deployment, InferenceService, PersistentVolumeClaim                                                |

    Examples:
      | env     |
      | staging |
      | prod    |
      | edge    |

  Scenario: Sync never undoes an automated rollback of the production canary
    The runtime's monitor rolls a failing canary back by patching the live
    InferenceService; Argo CD must see no difference to correct.

    Given the InferenceService in "generated/prod/inferenceservice-pump-failure.yaml" sends 10% of the traffic to its canary
    When the runtime rolls the canary back with the JSON patch
      """
      [{"op": "replace", "path": "/spec/predictor/canaryTrafficPercent", "value": 0}]
      """
    Then the InferenceService sends 0% of the traffic to its canary
    And the patch changed only "/spec/predictor/canaryTrafficPercent"
    And every path the patch changed is covered by the ignoreDifferences of the Application that syncs "generated/prod"
    And that Application syncs with "ApplyOutOfSyncOnly=true", so syncing another change does not re-apply the InferenceService

  Scenario Outline: Production does not prune by itself; staging and the edge gateways do
    Then "<file>" syncs automatically with prune <prune> and self-heal <self_heal>

    Examples:
      | file                                      | prune | self_heal |
      | generated/argocd/application-staging.yaml | true  | true      |
      | generated/argocd/application-prod.yaml    | false | true      |
      | generated/argocd/applicationset-edge.yaml | true  | true      |

  Scenario: The edge gateways are selected by a cluster label
    Then "generated/argocd/applicationset-edge.yaml" is an ApplicationSet whose cluster generator selects the clusters labelled
      | label                    | value |
      | specops.dev/edge-gateway | true  |
    And each Application it generates is named after its cluster and syncs "generated/edge" into namespace "pm-edge" of that cluster

  Scenario: A rolled-back canary falls back to a champion whose configuration is still there
    During a canary KServe keeps the previous revision (the champion) serving,
    mounting the serve ConfigMap it was created with; a rollback sends all
    traffic back to it. So serve ConfigMaps are content-addressed, immutable
    and never pruned, even after git has moved on to the next release.

    Then every ConfigMap an InferenceService in "generated/prod" mounts is immutable and marked "Prune=false"

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

  Scenario: an edge bundle with a bad signature never serves
    Given an edge runner serving release "1.0.0" and watching a bundle channel
    And a client sending predictions in a loop
    When a bundle of release "2.0.0" signed by an untrusted key is published
    Then the runner refuses it for "bad_signature"
    And every prediction was answered by release "1.0.0"
    And an incident records the refusal with reason "bad_signature"

  Scenario: an edge bundle with a bad checksum is rolled back
    Given an edge runner serving release "1.0.0" and watching a bundle channel
    And a client sending predictions in a loop
    When a bundle of release "2.0.0" whose model was altered after signing is published
    Then the runner refuses it for "checksum_mismatch"
    And every prediction was answered by release "1.0.0"
    And an incident records the refusal with reason "checksum_mismatch"
