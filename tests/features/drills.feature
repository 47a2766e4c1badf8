Feature: Failure drills
  Every failure mode is rehearsed: injected, detected by the real monitoring
  code, and acted on by the action the ServiceLevel declares.

  Scenario: Covariate drift on a subset of assets
    When the drill "covariate_drift" runs
    Then it is detected within 3 windows
    And stationary data raises at most 1 false alarm per 100 windows
    And the action "retrain" fired

  Scenario: Degradation under covariate shift with delayed labels
    When the drill "degradation" runs
    Then estimated quality flags it before realized quality confirms it
    And the action "retrain" fired
    And the action "page" fired

  Scenario: Pure concept drift
    When the drill "concept_drift" runs
    Then only realized quality catches it
    And reviewer overrides show it before realized quality does
    And the action "page" fired

  Scenario: A bad model released
    When the drill "bad_release" runs
    Then it is rolled back within its first canary step
    And the action "rollback" fired

  Scenario: Review-queue overload
    When the drill "review_overload" runs
    Then the objective "review-backlog" is breached
    And the action "page" fired
