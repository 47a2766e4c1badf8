Feature: Canary rollback
  A challenger served beside the champion takes the canary step's share of
  the requests (the same request id always takes the same arm).  The
  analysis the model's spec declares (spec.serving.canary.analysis) judges it
  against the champion once it has seen minRequests; a failing challenger is
  rolled back on its own: all traffic goes back to the champion at once, an
  incident records the evidence, and the audit log holds the action.  The
  runtime changes nothing else: the next step forward is a pull request.

  Background:
    Given a copy of the example repository

  Scenario: a failing canary is rolled back
    Given the fleet's recent events are in the online store
    And the local registry's champion of "pump-failure" scores probabilities
    And its candidate answers nothing but errors
    When I change "spec.serving.canary.analysis.minRequests" in "specs/models/pump-failure.yaml" to "40"
    And I start "specops serve --canary 50 --port {port}"
    And requests for the fleet keep arriving
    Then the canary is rolled back within 60 seconds
    And no request routed to the champion failed
    And the incident names the failed criterion with its numbers and says the next step is a pull request
    And the audit log records the rollback under the incident's id
    And the champion answers every request after the rollback
