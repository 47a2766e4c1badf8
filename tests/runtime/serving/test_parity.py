"""End-to-end parity: the predictor's score for an entity and time equals the
score of the batch pipeline's training row for the same entity and time.

The real pipeline runs on the embedded generator's data (validate-data,
build-features, train, export-onnx with the compiled configs, a shorter
backtest so it fits in a test); the exported model is registered and served
by the predictor, whose features come from the online engine replaying the
validated events in arrival order.  Batch side: the training table's row,
encoded by the training code (``runtime.training.table.encode``), through
onnxruntime.
"""

from __future__ import annotations

import json
from datetime import timezone
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from runtime.contracts.steps import ServeConfig
from runtime.events import ARRIVAL_TIME
from runtime.features.stores.memory_store import MemoryStore
from runtime.features.timestamps import to_us
from runtime.serving.online import OnlineFeatures
from runtime.serving.predictor import SpecOpsPredictor
from runtime.serving.request import PredictionInput
from runtime.training.table import FeatureEncoding, encode
from tests.runtime.serving.served import CONFIGS, WORK, train_example

SAMPLES = 60


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("parity")
    train_example(root)
    return root


def test_online_predictions_score_like_the_batch_training_rows(trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(trained)
    config = ServeConfig.model_validate_json((trained / CONFIGS / "serve.json").read_text())
    table = pq.read_table(WORK / "features/training.parquet")
    rng = np.random.default_rng(11)
    rows = sorted(rng.choice(table.num_rows, size=SAMPLES, replace=False).tolist(),
                  key=lambda i: table.column("cut_time")[i].as_py())
    sample = table.take(pa.array(rows))

    store = MemoryStore("memory://")
    predictor = SpecOpsPredictor(config, features=OnlineFeatures(config.feature_sets, config.features, store))
    predictor.load()
    encoding = FeatureEncoding.from_json(json.loads((WORK / "model/features.json").read_text()))
    session = ort.InferenceSession(str(WORK / "onnx/model.onnx"))
    batch_scores = session.run(None, {"input": encode(sample.select(list(encoding.features)), encoding).astype(np.float32)})[0][:, 0]

    events = pq.read_table(WORK / "validated/sensor-events.parquet").to_pylist()
    events.sort(key=lambda e: (to_us(e[ARRIVAL_TIME] or e["event_time"]), str(e.get("_event_id"))))
    position, worst, compared, vectors_equal = 0, 0.0, 0, 0
    for i, row in enumerate(sample.to_pylist()):
        cut = row["cut_time"].astimezone(timezone.utc)
        cut_us = to_us(cut)
        while position < len(events) and to_us(events[position][ARRIVAL_TIME] or events[position]["event_time"]) <= cut_us:
            predictor.features.engine.apply(events[position])
            position += 1
        p = predictor.predict_one(PredictionInput(str(row["asset_id"]), None, cut_us), "parity", i, cut_us)
        diff = abs(p.score - float(batch_scores[i]))
        assert diff <= 1e-6, (row["asset_id"], cut.isoformat(), p.score, float(batch_scores[i]))
        worst = max(worst, diff)
        compared += 1
        online_row = predictor.scorer.vector(p.features)
        batch_row = encode(sample.slice(i, 1).select(list(encoding.features)), encoding).astype(np.float32)
        vectors_equal += bool(np.array_equal(online_row, batch_row, equal_nan=True))
    assert compared == SAMPLES
    # A model that scores (this generator's data separates easily, so scores cluster), not a constant.
    assert len({round(float(s), 9) for s in batch_scores}) >= 5 and float(np.ptp(batch_scores)) > 0.5
    assert vectors_equal == SAMPLES  # the same float32 model input, not just close scores
    print(f"parity: {compared} (entity, time) samples, max |online - batch| = {worst:.3g}")
