"""``python -m runtime predlog stats|compact|skew --config serve.json``:
the tool on the compiled local serve config, in-process through the same
entry point as the command line; bad usage is one clear line, exit 2."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from runtime.cli import main
from runtime.serving.predictor import SpecOpsPredictor
from tests.runtime.serving.served import CONFIG, T0, ServedRepo, iso

from test_predlog_serving import _events  # the events the fixture store was filled from


def _serve(repo: ServedRepo, n: int) -> None:
    predictor = SpecOpsPredictor(repo.config)
    predictor.load()
    for i in range(n):
        predictor.predict({"instances": [{"entity": "P-CRIT", "at": iso(T0 + timedelta(minutes=1 + i))}]},
                          {"x-request-id": f"cli-{i}"})
    predictor.unload()


def _json(capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    return json.loads(capsys.readouterr().out)


def test_stats_compact_and_skew(served_repo: ServedRepo, capsys: pytest.CaptureFixture[str]) -> None:
    _serve(served_repo, 5)
    assert main(["predlog", "--config", CONFIG, "stats"]) == 0
    stats = _json(capsys)
    assert (stats["rows"], stats["last_seq"], stats["parts"]) == (5, 5, 0)
    assert main(["predlog", "--config", CONFIG, "compact"]) == 0
    done = _json(capsys)
    assert (done["rows_moved"], done["rows_deleted"], len(done["parts"])) == (5, 5, 1)
    assert main(["predlog", "--config", CONFIG, "stats"]) == 0
    assert (lambda s: (s["rows"], s["parts"]))(_json(capsys)) == (0, 1)
    snapshot = served_repo.root / "snapshot"
    snapshot.mkdir()
    for fs in served_repo.config.feature_sets:
        pq.write_table(_events(), snapshot / f"{fs.source}.parquet")
    out = served_repo.root / "skew.json"
    assert main(["predlog", "--config", CONFIG, "skew", "--events", str(snapshot), "--sample-rate", "1",
                 "--out", str(out)]) == 0
    report = _json(capsys)
    assert (report["checked"], report["consistency_rate"], report["mismatches"]) == (5, 1.0, [])
    assert json.loads(out.read_text()) == report
    assert main(["predlog", "--config", CONFIG, "skew", "--events", str(snapshot), "--sample-rate", "1",
                 "--until", "2000-01-01T00:00:00Z"]) == 0
    assert _json(capsys)["checked"] == 0  # nothing served before then


def test_bad_usage_is_one_clear_line(served_repo: ServedRepo, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predlog", "--config", CONFIG, "stats"]) == 2
    assert "no prediction log yet" in capsys.readouterr().err
    _serve(served_repo, 1)
    assert main(["predlog", "--config", CONFIG, "skew", "--events", "nowhere"]) == 2
    assert "no validated data for source" in capsys.readouterr().err
    assert main(["predlog", "--config", CONFIG, "skew", "--events", ".", "--since", "yesterday"]) == 2
    assert "not ISO-8601 times" in capsys.readouterr().err
    raw = json.loads(Path(CONFIG).read_text())
    raw.pop("prediction_log")
    Path("nolog.json").write_text(json.dumps(raw))
    assert main(["predlog", "--config", "nolog.json", "stats"]) == 2
    assert "has no prediction_log section" in capsys.readouterr().err
    assert main(["predlog", "--config", "missing.json", "stats"]) == 2
    assert "no such config file" in capsys.readouterr().err
