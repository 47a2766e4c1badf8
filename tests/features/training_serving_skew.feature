Feature: Training–serving skew is caught before deploy
  Features are computed by two engines from one definition: the batch engine
  builds the training table, the online engine serves. The pipeline's parity
  step replays the validated events through the online engine in arrival
  order and compares it with the batch engine on sampled (entity, time)
  points; any difference stops the pipeline before a model is trained, so a
  skewed model never reaches a release.

  Background:
    Given a copy of the example repository
    And the example data validated into a snapshot

  Scenario: training–serving skew is caught before deploy
    Given a serving build whose online engine counts one event too many at window boundaries
    When I run the runtime step "parity"
    Then the exit code is 1
    And the output says "mismatch: feature set 'asset-health'"
    And the parity report lists each mismatch with entity, time, feature and both values
    And in "dvc.yaml" the stage "pump-failure-train" needs the output of "pump-failure-parity"

  Scenario: the same definition in both engines passes parity
    When I run the runtime step "parity"
    Then the exit code is 0
    And the output says "0 mismatch(es)"
