"""The ONNX model: one onnxruntime session per served file, created at load.

``model.onnx`` is self-describing (export-onnx writes it): the feature
order and category vocabularies (``specops.encoding``), the decision
threshold (``specops.threshold``) and the calibration, which is inside the
graph, so its output is the calibrated probability the threshold applies to.
Encoding is the training table's (``runtime.training.table.encode``):
numbers as float32, a category as its index in the sorted vocabulary, an
unseen category or a missing value as NaN (the trees' missing branch).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["ModelFileError", "OnnxScorer"]


class ModelFileError(Exception):
    """The model file cannot be served; the message says why."""


@dataclass(frozen=True)
class _Encoding:
    features: tuple[str, ...]
    codes: tuple[dict[str, float] | None, ...]  # per feature: category -> code, None for numbers


def _encoding(meta: Mapping[str, str], path: Path) -> _Encoding:
    raw = meta.get("specops.encoding")
    if raw is None:
        raise ModelFileError(f"{path}: no specops.encoding metadata (was it written by export-onnx?)")
    try:
        items = json.loads(raw)["features"]
        features = tuple(str(i["name"]) for i in items)
        codes = tuple({v: float(k) for k, v in enumerate(i["vocabulary"])} if i["type"] == "category" else None
                      for i in items)
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{path}: unreadable specops.encoding metadata: {exc}") from None
    return _Encoding(features, codes)


class OnnxScorer:
    """Feature values -> the calibrated score, through one session."""

    def __init__(self, path: Path, expected_sha256: str | None = None) -> None:
        import onnxruntime as ort

        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelFileError(f"{path}: cannot read the model: {exc.strerror or exc}") from None
        self.sha256 = hashlib.sha256(data).hexdigest()
        if expected_sha256 is not None and self.sha256 != expected_sha256:
            raise ModelFileError(f"{path}: sha256 {self.sha256} differs from the release's {expected_sha256}; "
                                 "refusing to serve a file the release did not approve")
        options = ort.SessionOptions()
        # One request is one row: threads only add hand-off latency, and the
        # server's event loop is the unit of concurrency.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for a bad graph
            raise ModelFileError(f"{path}: onnxruntime cannot load the model: {exc}") from None
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        self.encoding = _encoding(meta, path)
        try:
            self.threshold = float(meta["specops.threshold"])
        except (KeyError, ValueError):
            raise ModelFileError(f"{path}: no usable specops.threshold metadata") from None
        if not 0.0 <= self.threshold <= 1.0:
            raise ModelFileError(f"{path}: threshold {self.threshold} is outside [0, 1]")
        self.training_spec_hash = meta.get("specops.spec_hash")
        self.model_name = meta.get("specops.model")
        self._columns = tuple(zip(self.encoding.features, self.encoding.codes))
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    @property
    def features(self) -> tuple[str, ...]:
        return self.encoding.features

    def check_features(self, served: Sequence[str]) -> None:
        if tuple(served) != self.features:
            raise ModelFileError(f"the model was trained on features {list(self.features)}, but the serve config "
                                 f"provides {list(served)}; serve a model trained from the current specs")

    def vector(self, values: Mapping[str, object]) -> np.ndarray:
        """A [1, F] float32 row, encoded as in training."""
        nan = math.nan
        cells = [nan if (value := values.get(name)) is None
                 else (codes.get(str(value), nan) if codes is not None else float(value))  # type: ignore[arg-type]
                 for name, codes in self._columns]
        # float64 -> float32 rounds to nearest, as training's encode() does
        return np.array([cells], dtype=np.float32)

    def score(self, row: np.ndarray) -> float:
        out = self.session.run([self.output_name], {self.input_name: row})[0]
        return float(out[0][0])

    @staticmethod
    def vector_hash(row: np.ndarray) -> str:
        """sha256 of the exact model input (little-endian float32): the same
        features give the same hash wherever they were computed."""
        return hashlib.sha256(np.ascontiguousarray(row, dtype="<f4").tobytes()).hexdigest()
