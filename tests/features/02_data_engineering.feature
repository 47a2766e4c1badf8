Feature: 2. Data engineering: only validated data, one feature definition for training and serving
  Stage 2 of 6 (Design -> Data Engineering -> Model Development -> Deployment -> Operations -> Governance).
  Every training pipeline starts with validate-data: it applies each
  DataSource's data contract to the raw event and label files and writes the
  validated snapshot that feature building reads. A batch that breaks the
  contract stops the pipeline (exit 1) with a report naming the rule, the
  column, the count and example rows, and leaves no snapshot behind; faults
  the contract allows to be set aside (late events, duplicates, a few bad
  values) are quarantined and counted, never silently dropped. Features are
  computed by two engines from one definition, batch for training and online
  for serving, and a parity step stops the pipeline on any difference. A
  source moves from files to a stream by editing its spec alone. Locally the
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

  Scenario: training–serving skew is caught before deploy
    Given the example data validated into a snapshot
    And a serving build whose online engine counts one event too many at window boundaries
    When I run the runtime step "parity"
    Then the exit code is 1
    And the output says "mismatch: feature set 'asset-health'"
    And the parity report lists each mismatch with entity, time, feature and both values
    And in "dvc.yaml" the stage "pump-failure-train" needs the output of "pump-failure-parity"

  Scenario: the same definition in both engines passes parity
    Given the example data validated into a snapshot
    When I run the runtime step "parity"
    Then the exit code is 0
    And the output says "0 mismatch(es)"

  @services
  Scenario: A data source switches from files to a stream by editing its spec
    The sensor events arrive as files. Pointing their DataSource at a NATS
    JetStream subject is the whole change: the compiler then deploys an
    ingester in every environment, and its compiled config drives a real
    ingester that fills the online store the predictor reads. (Without the
    embedded sample data, which generates files for this source.)

    Given NATS JetStream is running
    When I remove "spec.sampleData" from "specs/system.yaml"
    And I run "specops compile specs/ --out generated/"
    Then the exit code is 0
    When I point "sensor-events" in "specs/data/sensor-events.yaml" at a new NATS stream instead of its files
    And I run "specops compile specs/ --out generated/"
    Then the exit code is 0
    And the compile created exactly these files, besides release configurations renamed by the new lineage hash:
      | file                                                          |
      | generated/prod/configmap-ingest-sensor-events-config.yaml     |
      | generated/prod/deployment-ingest-sensor-events.yaml           |
      | generated/runtime/ingest-sensor-events/ingest.json            |
      | generated/staging/configmap-ingest-sensor-events-config.yaml  |
      | generated/staging/deployment-ingest-sensor-events.yaml        |
    And exactly the listed files changed on disk
    And "generated/prod/deployment-ingest-sensor-events.yaml" runs "ingest --config generated/runtime/ingest-sensor-events/ingest.json", ready on "/readyz"
    And the cluster's ingest config reads the online store's URL from "SPECOPS_ONLINE_STORE_URL"
    And "generated/runtime/ingest-sensor-events/ingest.json" reads the new stream into feature set "asset-health"
    When an ingester runs on "generated/runtime/ingest-sensor-events/ingest.json"
    And half a day of generated events of 4 assets is published to the stream
    Then the ingester applies every published event, with no duplicates and nothing dead-lettered
    And the online store counts every published event of its asset in the 24h window
