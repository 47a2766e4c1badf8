Feature: Edge bundles are verified before they serve
  An edge gateway runs `python -m runtime edge`: it serves predictions from a
  signed bundle and switches to a new one only after the Ed25519 signature
  (checked with the key the gateway trusts, never one from the bundle),
  every checksum and a health check on golden inputs pass. A refused bundle
  never serves: the previous one keeps answering, the refusal is counted and
  written as an incident.

  Background:
    Given an edge runner serving release "1.0.0" and watching a bundle channel
    And a client sending predictions in a loop

  Scenario: an edge bundle with a bad signature never serves
    When a bundle of release "2.0.0" signed by an untrusted key is published
    Then the runner refuses it for "bad_signature"
    And every prediction was answered by release "1.0.0"
    And an incident records the refusal with reason "bad_signature"

  Scenario: an edge bundle with a bad checksum is rolled back
    When a bundle of release "2.0.0" whose model was altered after signing is published
    Then the runner refuses it for "checksum_mismatch"
    And every prediction was answered by release "1.0.0"
    And an incident records the refusal with reason "checksum_mismatch"
