Feature: Argo CD sync
  The generated/ folder is committed, and Argo CD reconciles the clusters from
  it. generated/argocd/ holds one AppProject that limits where and what may be
  deployed, one Application per cloud environment and one ApplicationSet for
  the edge gateways; each of them syncs one folder generated/<env>/. Argo CD
  applies every .yaml file in such a folder, so the folders must hold nothing
  but Kubernetes manifests of kinds the project allows, deploy in a safe order,
  and never fight the runtime's one permitted change in a cluster: an automated
  rollback that sets a canary's traffic to 0.

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
      | serving                | Deployment, InferenceService                                                                       |

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
