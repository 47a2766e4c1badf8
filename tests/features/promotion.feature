Feature: A model is promoted only through its gates and approvals
  The pipeline registers a model only when it passes every gate, and
  production serves only what a ModelRelease in git names, signed off by the
  approvers the risk policies require: lint, compile and the cluster's
  admission policy agree on that.

  Background:
    Given the example system run end to end by "specops run" on a small sample data set

  Scenario: A model that passes its gates is registered and its release waits for approvals
    Then the model is registered as version "0.1.0" with every gate passed and a model card
    When I propose the pipeline's release as the prod canary in place of "pump-failure-1-4-0"
    Then lint refuses the release with "SO443"
    When "dana@acme.example" approves it as "ml-lead"
    Then lint refuses the release with "SO443"
    When "omar@acme.example" approves it as "risk-officer"
    Then lint accepts the specs
    And the compiled prod InferenceService serves "pump-failure-0-1-0" with "2" approvals

  Scenario: A model that fails a gate is neither registered nor promoted
    When the "ece" gate is tightened to "0.000001" and the pipeline runs again
    Then the run stops at "pump-failure-evaluate" with exit code 1
    And the registry's versions and aliases are unchanged
