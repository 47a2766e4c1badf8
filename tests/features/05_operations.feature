Feature: 5. Operations: online predictions that can be traced and measured
  Stage 5 of 6 (Design -> Data Engineering -> Model Development -> Deployment -> Operations -> Governance).
  `specops serve` runs the predictor of a model that `specops run` trained
  and registered, on this machine, with kserve's ModelServer. Every answer
  says which model version and release produced it, from which compiled
  specs, on which exact feature vector, and why it was decided the way it
  was, so a prediction can be traced and reproduced after the fact; every
  decision is counted on /metrics, which the ServiceLevel objectives and the
  monitor read.

  Background:
    Given a copy of the example repository

  Scenario: a prediction is traceable to its release, spec and features
    Given the model "pump-failure" is registered locally as "candidate"
    And the online store holds the recent events of the critical pump "P-CRIT"
    When I start "specops serve --port {port}"
    And I ask for a prediction for "P-CRIT" at "2026-03-01T12:01:00Z"
    Then the answer names the registered version and the release "registry:candidate"
    And the answer carries the spec hash compiled into "generated/runtime/pump-failure/serve.json"
    And the answer's features are what the online engine computes from the asset's events
    And the answer's feature vector hash is the sha256 of those features as the model reads them
    And the answer's action is "human_review" because of rule "HR-010"
    And the prediction is counted on /metrics under the registered version

  Scenario: nothing to serve before a model is registered
    When I start "specops serve --port {port}"
    Then the server exits with code 2 saying "run `specops run` first"

  Scenario: a failing canary is rolled back
    Given the fleet's recent events are in the online store
    And the local registry's champion of "pump-failure" scores probabilities
    And its candidate answers nothing but errors
    When I change "spec.serving.canary.analysis.minRequests" in "specs/models/pump-failure.yaml" to "40"
    And I start the canary with "specops serve --canary 50 --port {port}"
    And requests for the fleet keep arriving
    Then the canary is rolled back within 60 seconds
    And no request routed to the champion failed
    And the incident names the failed criterion with its numbers and says the next step is a pull request
    And the audit log records the rollback under the incident's id
    And the champion answers every request after the rollback
