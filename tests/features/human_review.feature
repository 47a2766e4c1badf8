Feature: Human review of high-risk predictions
  A prediction the risk policy sends to a human (e.g. a predicted failure of
  a critical asset, rule HR-010) is written to the durable review queue,
  with its audit record, before the response returns. Reviewers work the
  queue with `specops review`; every action is in the hash-chained audit
  log, which `specops audit verify` checks. Reviewer decisions become
  labels of the model's labels source for the next training run.

  Background:
    Given a copy of the example repository
    And the review server of the example system is running

  Scenario: High-risk predictions wait for a human
    When the model scores 0.91 for the critical asset "pump-0007"
    And the model scores 0.91 for the low-criticality asset "pump-0100"
    Then the prediction for "pump-0007" waits in the review queue, escalated by rule "HR-010"
    And no prediction for "pump-0100" is in the review queue
    When I run "specops review list"
    Then the exit code is 0
    And the output mentions "pump-0007"
    When I run "specops review claim --reviewer alice"
    Then the exit code is 0
    When reviewer "alice" decides the claimed item with "--approve" because "bearing temperature confirms it"
    Then the exit code is 0
    And the audit log records "review.enqueued, review.claimed, review.decided" for the prediction
    When I run "specops audit verify"
    Then the exit code is 0
    And the output mentions "audit chain OK: 3 record(s)"
    When someone rewrites the actor of audit record 2 in the review store
    And I run "specops audit verify"
    Then the exit code is 1
    And the output mentions "BROKEN at record seq=2"

  Scenario: A reviewer override becomes a training label
    When the model scores 0.91 for the critical asset "pump-0007"
    And I run "specops review export-labels"
    Then the exit code is 0
    And the label export has 0 rows
    When I run "specops review claim --reviewer alice"
    And reviewer "alice" decides the claimed item with "--override" because "vibration spike was a sensor recalibration"
    And I run "specops review export-labels"
    Then the exit code is 0
    And the label export has 1 row: "pump-0007" did not fail, known from the decision time
    And the label export's content hash changed
    And the label file is where the labels source "failure-labels" reads its files
