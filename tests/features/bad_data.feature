Feature: Bad data is stopped, not learned from
  Every training pipeline starts with validate-data: it reads the raw event
  and label files, applies each DataSource's data contract and writes the
  validated snapshot that feature building reads.  A batch that breaks the
  contract stops the pipeline (exit 1) with a report naming the rule, the
  column, the count and example rows, and leaves no snapshot behind.  Faults
  the contract allows to be set aside (late events, duplicates, a few bad
  values) are quarantined and counted, never silently dropped.  Locally the
  data comes from the embedded generator (System.spec.sampleData), whose
  fault knobs make each case reproducible.

  Background:
    Given a copy of the example repository

  Scenario: The example data passes, and its faults are quarantined and counted
    When I run the runtime step "generate-data" with "generated/runtime/sample-data/generate-data.json"
    Then the step exit code is 0
    When I run the runtime step "validate-data" with "generated/runtime/pump-failure/validate-data.json"
    Then the step exit code is 0
    And the validated snapshot of "pump-failure" accounts for every row of "sensor-events"
    And the quarantine of "sensor-events" holds rows for "late:event_time", "duplicate:_event_id" and "range:"

  Scenario Outline: A flood of bad values stops the pipeline with a report
    When I change "spec.sampleData.faults.<knob>" in "specs/system.yaml" to "<rate>"
    And I run "specops compile specs/ --out generated/"
    Then the exit code is 0
    When I run the runtime step "generate-data" with "generated/runtime/sample-data/generate-data.json"
    And I run the runtime step "validate-data" with "generated/runtime/pump-failure/validate-data.json"
    Then the step exit code is 1
    And the data report of "pump-failure" fails "<rule>" on "<column>" with example rows
    And the step's error output names "<rule> <column>"
    And there is no validated snapshot of "pump-failure"

    Examples:
      | knob           | rate | rule                  | column      |
      | nullRate       | 0.3  | null_fraction         | temperature |
      | outOfRangeRate | 0.2  | out_of_range_fraction | vibration   |

  Scenario: A new asset type the contract does not declare is quarantined, not learned from
    When I change "spec.sampleData.drift.newAssetType" in "specs/system.yaml" to "blower"
    And I run "specops lint specs/"
    Then the exit code is 0
    And the output contains a located warning "SO497" at the line of "newAssetType: blower" in "specs/system.yaml"
    When I run "specops compile specs/ --out generated/"
    And I run the runtime step "generate-data" with "generated/runtime/sample-data/generate-data.json"
    And I run the runtime step "validate-data" with "generated/runtime/pump-failure/validate-data.json"
    Then the step exit code is 0
    And the quarantine of "sensor-events" holds rows for "category:asset_type"
    And no validated row of "sensor-events" has asset type "blower"
