"""The edge runner in-process: what it serves, every reason it refuses a
bundle (each leaves the serving bundle serving, counts the reason and writes
an incident), the atomic current/previous slots and the start-up rollback."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from edge_bundles import Release, copy_release, edge_config, resign, retamper
from prometheus_client.parser import text_string_to_metric_families

from runtime.contracts.steps import EdgeRunConfig
from runtime.edge.loaded import CheckPolicy
from runtime.edge.runner import EdgeRunner, InvalidInput
from runtime.export.golden import read_golden
from runtime.export.signing import load_public_key


def _runner(work: Path, releases: Any, release: Release | None = None, **over: Any) -> EdgeRunner:
    config = EdgeRunConfig.model_validate(edge_config(work, release or releases.v1, releases.trusted, **over))
    policy = CheckPolicy(load_public_key(releases.trusted.read_bytes()), config.allow_throwaway_key,
                         config.health_tolerance, config.max_latency_ms)
    return EdgeRunner(config, policy)


def _samples(runner: EdgeRunner) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(runner.metrics.render().decode()) for s in fam.samples}


def _rejections(runner: EdgeRunner, reason: str) -> float:
    return _samples(runner)[("specops_edge_bundle_rejections_total",
                             frozenset({("model", "pump-failure"), ("environment", "edge"), ("reason", reason)}))]


def _incidents(work: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((work / "edge" / "incidents").glob("*.json"))]


def _golden(release: Release) -> tuple[list[dict[str, Any]], list[float]]:
    g = read_golden((release.bundle / "golden.json").read_bytes())
    return [dict(r) for r in g.rows], list(g.scores)


def _channel(tmp_path: Path, release: Release, version: str) -> Path:
    """A watched bundle location holding ``release``'s bundle, versioned in its signed manifest."""
    channel = tmp_path / f"channel-{version}"
    shutil.copytree(release.bundle, channel)
    return channel


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path / "work"


def test_the_configured_bundle_is_verified_checked_and_served(work: Path, releases: Any) -> None:
    runner = _runner(work, releases)
    runner.start()
    active = runner.active
    assert active is not None and active.version == "1.0.0" and active.release_sha256 == releases.v1.sha256
    assert active.health.max_abs_diff <= 1e-4 and active.health.rows >= 4
    rows, scores = _golden(releases.v1)
    bundle, out = runner.predict(rows)
    assert bundle is active
    assert [p["score"] for p in out] == pytest.approx(scores, abs=1e-6)
    assert any(p["decision"] for p in out) and not all(p["decision"] for p in out)  # golden rows span the threshold
    current = work / "edge" / "current"
    assert current.is_symlink() and not (work / "edge" / "previous").exists()
    assert (current / "bundle" / "manifest.json").read_bytes() == (releases.v1.bundle / "manifest.json").read_bytes()
    info = _samples(runner)[("specops_edge_bundle_info",
                             frozenset({("model", "pump-failure"), ("environment", "edge"), ("version", "1.0.0")}))]
    assert info == 1.0 and _rejections(runner, "bad_signature") == 0.0  # initialised at 0


def _corrupt(b: Path, key: Ed25519PrivateKey) -> None:
    data = bytearray((b / "model.onnx").read_bytes())
    data[100] ^= 0xFF
    (b / "model.onnx").write_bytes(bytes(data))


def _other_key(b: Path, key: Ed25519PrivateKey) -> None:
    resign(b, Ed25519PrivateKey.generate())


def _throwaway(b: Path, key: Ed25519PrivateKey) -> None:
    from runtime.export.bundle import write_bundle
    from runtime.export.signing import SigningKey

    manifest = json.loads((b / "manifest.json").read_text())
    files = {p.name: p.read_bytes() for p in b.iterdir() if p.name not in ("manifest.json", "manifest.sig")}
    write_bundle(b, files, {k: v for k, v in manifest.items() if k not in ("format", "files", "key")},
                 SigningKey(key, "throwaway", None))


def _shifted_golden(b: Path, key: Ed25519PrivateKey) -> None:
    g = json.loads((b / "golden.json").read_text())
    g["scores"] = [s + 0.05 for s in g["scores"]]  # a signer that shipped a graph that no longer scores as exported
    resign(b, key, files={"golden.json": (json.dumps(g) + "\n").encode()})


def _no_golden(b: Path, key: Ed25519PrivateKey) -> None:
    (b / "golden.json").unlink()
    resign(b, key)


def _extra_dir(b: Path, key: Ed25519PrivateKey) -> None:
    (b / "payload").mkdir()


REFUSALS = {
    "corrupt model (checksum)": (_corrupt, "checksum_mismatch", "altered after signing"),
    "tampered, checksums recomputed": (lambda b, k: retamper(b), "bad_signature", "signature does not verify"),
    "unsigned": (lambda b, k: (b / "manifest.sig").unlink(), "unsigned", "incomplete bundle"),
    "signed by another key": (_other_key, "bad_signature", "signature does not verify"),
    "throwaway key": (_throwaway, "throwaway_key", "throwaway key"),
    "unlisted file": (lambda b, k: (b / "extra.onnx").write_bytes(b"x"), "unlisted_file", "extra.onnx"),
    "unlisted directory": (_extra_dir, "unlisted_file", "payload"),
    "listed file missing": (lambda b, k: (b / "features.json").unlink(), "incomplete", "listed in the manifest"),
    "golden scores differ": (_shifted_golden, "unhealthy", "differs from the exported"),
    "no golden inputs": (_no_golden, "unhealthy", "golden.json"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_bad_bundle_is_refused_and_the_current_one_keeps_serving(case: str, work: Path, tmp_path: Path,
                                                                   releases: Any) -> None:
    tamper, reason, message = REFUSALS[case]
    channel = _channel(tmp_path, releases.v2, "2.0.0")
    tamper(channel, releases.key)
    runner = _runner(work, releases, watch=str(channel))
    runner.start()
    before = runner.active
    current_target = os.readlink(work / "edge" / "current")
    [outcome] = runner.poll_once()
    assert not outcome.accepted and outcome.reason == reason and message in outcome.message
    assert runner.active is before and before is not None and before.version == "1.0.0"
    assert os.readlink(work / "edge" / "current") == current_target
    assert not any((work / "edge" / "staging").iterdir())  # nothing of the refused bundle is kept
    assert _rejections(runner, reason) == 1.0
    [incident] = _incidents(work)
    assert incident["kind"] == "edge_rollback" and incident["evidence"]["reason"] == reason
    assert incident["evidence"]["serving"]["version"] == "1.0.0" and "1.0.0 keeps serving" in incident["summary"]
    assert incident["id"] == outcome.incident
    # The same bad bundle polled again is not fetched or counted again.
    assert runner.poll_once() == [] and _rejections(runner, reason) == 1.0


def test_a_bundle_over_the_latency_budget_never_serves(work: Path, releases: Any) -> None:
    runner = _runner(work, releases, max_latency_ms=1e-6)
    runner.start()
    assert runner.active is None
    [outcome] = runner.history
    assert outcome.reason == "unhealthy" and "p99 latency" in outcome.message
    assert not (work / "edge" / "current").exists()
    with pytest.raises(Exception, match="no verified edge bundle"):
        runner.predict([[0.0]])


def test_a_bundle_of_another_release_is_refused(work: Path, tmp_path: Path, releases: Any) -> None:
    # The config names v1's release (its sha256) but the location holds v2's bundle.
    wrong = copy_release(releases.v2, tmp_path / "wrong", "1.0.0")
    runner = _runner(work, releases, release=Release("1.0.0", wrong.root, releases.v1.sha256))
    runner.start()
    assert runner.active is None and runner.history[-1].reason == "wrong_release"
    assert _rejections(runner, "wrong_release") == 1.0


def test_a_good_new_bundle_switches_atomically_and_keeps_the_previous(work: Path, tmp_path: Path,
                                                                     releases: Any) -> None:
    channel = _channel(tmp_path, releases.v2, "2.0.0")
    resign(channel, releases.key, meta={"version": "2.0.0"})
    runner = _runner(work, releases, watch=str(channel))
    runner.start()
    old = runner.active
    rows, v1_scores = _golden(releases.v1)
    [outcome] = runner.poll_once()
    assert outcome.accepted and outcome.version == "2.0.0" and runner.active is not old
    # A request that read the old bundle before the switch finishes on it.
    assert [old.scorer.score(old.scorer.vector(r)) for r in rows] == pytest.approx(v1_scores, abs=1e-6)
    v2_rows, v2_scores = _golden(releases.v2)
    bundle, out = runner.predict(v2_rows)
    assert bundle.version == "2.0.0" and [p["score"] for p in out] == pytest.approx(v2_scores, abs=1e-6)
    edge = work / "edge"
    assert (edge / "previous" / "bundle" / "manifest.json").read_bytes() == \
        (releases.v1.bundle / "manifest.json").read_bytes()
    assert sorted(p.name for p in (edge / "bundles").iterdir()) == sorted(
        {os.path.basename(os.readlink(edge / "current")), os.path.basename(os.readlink(edge / "previous"))})
    samples = _samples(runner)
    env = {("model", "pump-failure"), ("environment", "edge")}
    assert samples[("specops_edge_bundle_info", frozenset(env | {("version", "2.0.0")}))] == 1.0
    assert samples[("specops_edge_bundle_info", frozenset(env | {("version", "1.0.0")}))] == 0.0
    # A restart with the same config keeps the newer bundle (no downgrade to the configured one).
    again = _runner(work, releases, watch=str(channel))
    again.start()
    assert again.active is not None and again.active.version == "2.0.0" and again.previous.version == "1.0.0"


def test_a_corrupt_current_bundle_at_startup_switches_back_to_the_previous(work: Path, tmp_path: Path,
                                                                           releases: Any) -> None:
    channel = _channel(tmp_path, releases.v2, "2.0.0")
    resign(channel, releases.key, meta={"version": "2.0.0"})
    first = _runner(work, releases, watch=str(channel))
    first.start()
    assert first.poll_once()[0].accepted
    # The disk under `current` rots while the runner is down.
    model = work / "edge" / "current" / "bundle" / "model.onnx"
    data = bytearray(model.read_bytes())
    data[-10] ^= 0x55
    model.write_bytes(bytes(data))
    runner = _runner(work, releases, watch=str(channel))
    runner.start()
    assert runner.active is not None and runner.active.version == "1.0.0"
    edge = work / "edge"
    assert (edge / "current" / "bundle" / "manifest.json").read_bytes() == \
        (releases.v1.bundle / "manifest.json").read_bytes()
    assert not (edge / "previous").exists() and len(list((edge / "bundles").iterdir())) == 1
    rollbacks = _samples(runner)[("specops_edge_rollbacks_total", frozenset(
        {("model", "pump-failure"), ("environment", "edge"), ("reason", "checksum_mismatch")}))]
    assert rollbacks == 1.0
    [incident] = _incidents(work)
    assert incident["actions_taken"] == ["rollback"] and incident["evidence"]["rolled_back_to"]["version"] == "1.0.0"
    assert "switched back to the previous bundle" in incident["summary"]


def test_a_corrupt_current_without_previous_never_serves_and_the_configured_bundle_replaces_it(
        work: Path, releases: Any) -> None:
    _runner(work, releases).start()
    (work / "edge" / "current" / "bundle" / "manifest.sig").write_bytes(b"\0" * 64)
    runner = _runner(work, releases)
    runner.start()
    # The configured release was installed before, but what is on disk is bad: reinstalled from the source.
    assert runner.active is not None and runner.active.version == "1.0.0"
    assert runner.history[0].reason == "bad_signature" and runner.history[-1].accepted
    assert _rejections(runner, "bad_signature") == 1.0


def test_keep_previous_false_keeps_no_previous(work: Path, tmp_path: Path, releases: Any) -> None:
    channel = _channel(tmp_path, releases.v2, "2.0.0")
    runner = _runner(work, releases, watch=str(channel), keep_previous=False)
    runner.start()
    assert runner.poll_once()[0].accepted
    assert not (work / "edge" / "previous").exists() and len(list((work / "edge" / "bundles").iterdir())) == 1
    assert runner.active.version.startswith("sha256-")  # no version in the manifest: named by its content


@pytest.mark.parametrize("instances, message", [
    ([], "non-empty list"),
    ([[1.0]], "1 values, the model takes 7"),
    ([{"asset_type": "screw"}], "missing features"),
    ([{"nope": 1}], "unknown features ['nope']"),
    ([[True, "low", 1.0, 1.0, 1.0, 1.0, 1.0]], "must be a number, a category string or null"),
])
def test_bad_feature_vectors_are_refused_with_a_reason(work: Path, releases: Any, instances: Any, message: str) -> None:
    runner = _runner(work, releases)
    runner.start()
    with pytest.raises(InvalidInput, match=message.replace("[", r"\[").replace("]", r"\]")):
        runner.predict(instances)


def test_a_numeric_feature_sent_as_text_is_invalid_input(work: Path, releases: Any) -> None:
    runner = _runner(work, releases)
    runner.start()
    rows, _ = _golden(releases.v1)
    with pytest.raises(InvalidInput, match="instance 0"):
        runner.predict([{**rows[0], "pressure_min_24h": "high"}])
