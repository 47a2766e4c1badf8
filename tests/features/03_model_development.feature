Feature: 3. Model development: point-in-time training, gates, a registry
  Stage 3 of 6 (Design -> Data Engineering -> Model Development -> Deployment -> Operations -> Governance).
  build-features cuts a point-in-time training table: every row's features
  see only the events that had arrived by its time, and its label only the
  failure tickets that had arrived by the table cut. The pipeline
  (`specops run`) trains, calibrates and evaluates the model, and registers
  it only when it passes every gate of its Model spec; production serves
  only what a ModelRelease in git names, signed off by the approvers the
  risk policies require.

  Scenario: Late labels are not used before they are available
    A failure is known only when its maintenance ticket closes, up to two
    days later (failure-labels: availabilityDelay 48h). A training table cut
    at some time labels only the rows whose whole horizon had been reported
    by then; younger rows are left out, never learned as "no failure".

    Given a copy of the example repository
    And the generated events and failure tickets that had arrived by day 12, validated into a snapshot
    When I run the runtime step "build-features"
    Then the exit code is 0
    And no training row is younger than the label horizon plus the availability delay before the table cut
    And the lineage counts the rows left out because their label was not yet mature
    And a failure that happened before the cut but was reported after it labels no row
    When the rest of the data arrives and the training table is built again
    Then every row of the earlier table has the same label in the later table
    And the late failure labels the rows of its horizon in the later table

  Scenario: A model that passes its gates is registered and its release waits for approvals
    Given the example system run end to end by "specops run" on a small sample data set
    Then the model is registered as version "0.1.0" with every gate passed and a model card
    When I propose the pipeline's release as the prod canary in place of "pump-failure-1-4-0"
    Then lint refuses the release with "SO443"
    When "dana@acme.example" approves it as "ml-lead"
    Then lint refuses the release with "SO443"
    When "omar@acme.example" approves it as "risk-officer"
    Then lint accepts the specs
    And the compiled prod InferenceService serves "pump-failure-0-1-0" with "2" approvals

  Scenario: A model that fails a gate is neither registered nor promoted
    Given the example system run end to end by "specops run" on a small sample data set
    When the "ece" gate is tightened to "0.000001" and the pipeline runs again
    Then the run stops at "pump-failure-evaluate" with exit code 1
    And the registry's versions and aliases are unchanged
