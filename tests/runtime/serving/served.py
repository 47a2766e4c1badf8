"""Serving test helpers: a scratch repository holding the compiled local serve
config and policy bundle, a registered ONNX model, and an online store
filled through the real online engine.

The model is a small logistic graph built with onnx.helper (the real
pipeline's LightGBM export is exercised by test_parity.py): its features,
encoding metadata and threshold are what export-onnx writes, and its score
is a known function of the features, so tests can steer the decision.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from runtime.contracts.steps import ServeConfig
from runtime.features.online import OnlineEngine
from runtime.features.store import open_store
from runtime.registry import Registry

REPO = Path(__file__).resolve().parents[3]
MODEL = "pump-failure"
CONFIG = f"generated/runtime/{MODEL}/serve.json"
BUNDLE = f"generated/runtime/{MODEL}/policy-bundle.json"
STORE = "sqlite:///.specops/online/features.sqlite"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)  # the last event of every fixture asset
THRESHOLD = 0.5
VOCAB = {"asset_type": ["compressor", "pump", "turbine"], "criticality": ["critical", "high", "low", "medium"]}


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def compiled_config() -> dict:
    return json.loads((REPO / CONFIG).read_text(encoding="utf-8"))


def write_onnx(path: Path, features: list[str], weight: dict[str, float], bias: float,
               threshold: float = THRESHOLD) -> None:
    """probability = sigmoid(bias + sum(weight[f] * x_f)), NaN read as 0."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.array([[weight.get(f, 0.0)] for f in features], dtype=np.float32)
    nodes = [
        helper.make_node("IsNaN", ["input"], ["nan"]),
        helper.make_node("Where", ["nan", "zero", "input"], ["x"]),
        helper.make_node("MatMul", ["x", "w"], ["z32"]),
        helper.make_node("Cast", ["z32"], ["z"], to=TensorProto.DOUBLE),
        helper.make_node("Add", ["z", "b"], ["zb"]),
        helper.make_node("Sigmoid", ["zb"], ["probability"]),
    ]
    graph = helper.make_graph(
        nodes, "serving_fixture",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, len(features)])],
        [helper.make_tensor_value_info("probability", TensorProto.DOUBLE, [None, 1])],
        initializer=[numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
                     numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array([[bias]]), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    encoding = {"features": [{"name": f, "type": "category", "vocabulary": VOCAB[f]} if f in VOCAB
                             else {"name": f, "type": "float"} for f in features]}
    meta = {"specops.encoding": json.dumps(encoding, sort_keys=True), "specops.threshold": repr(threshold),
            "specops.model": MODEL, "specops.spec_hash": "fixture"}
    for key in sorted(meta):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, meta[key]
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())


# Score ~ sigmoid(vibration_max_1h - 5): vibration 9 -> 0.98, 5.3 -> 0.57, 1 -> 0.02.
WEIGHTS = {"vibration_max_1h": 1.0}
BIAS = -5.0


def asset_events(asset: str, asset_type: str, criticality: str, vibration: float, n: int = 12,
                 end: datetime = T0) -> list[dict]:
    return [{"asset_id": asset, "event_time": end - timedelta(minutes=5 * k), "asset_type": asset_type,
             "criticality": criticality, "temperature": 60.0 + k, "vibration": vibration, "pressure": 100.0,
             "rpm": 1500.0, "technician_email": None} for k in range(n)]


# entity -> (type, criticality, vibration): a failing critical pump, a healthy
# low-criticality turbine, and a high-criticality compressor near the threshold.
ASSETS = {"P-CRIT": ("pump", "critical", 9.0), "T-LOW": ("turbine", "low", 1.0), "C-NEAR": ("compressor", "high", 5.1)}


@dataclass
class ServedRepo:
    root: Path
    config: ServeConfig
    version: str

    def config_path(self) -> Path:
        return self.root / CONFIG


def make_repo(root: Path, store_url: str = STORE, **overrides: object) -> ServedRepo:
    """A scratch repository: compiled configs, a registered model, a filled store."""
    (root / CONFIG).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / BUNDLE, root / BUNDLE)
    raw = compiled_config()
    raw["online_store"] = {"backend": store_url.split(":")[0], "url": store_url}
    raw.update(overrides)
    (root / CONFIG).write_text(json.dumps(raw, indent=2), encoding="utf-8")
    config = ServeConfig.model_validate(raw)
    old = Path.cwd()
    os.chdir(root)
    try:
        onnx_path = root / "build/model.onnx"
        write_onnx(onnx_path, list(config.features), WEIGHTS, BIAS)
        registry = Registry(config.artifacts.uri)
        entry = registry.register(MODEL, {"model.onnx": onnx_path}, "model.onnx", {})
        registry.set_alias(MODEL, "candidate", entry.version)
        if store_url.startswith("sqlite:///"):
            Path(store_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        store = open_store(store_url)
        engine = OnlineEngine(config.feature_sets, store)
        for asset, (kind, crit, vib) in ASSETS.items():
            for event in asset_events(asset, kind, crit, vib):
                engine.apply(event)
        store.close()
    finally:
        os.chdir(old)
    return ServedRepo(root, config, entry.version)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    port: int
    process: subprocess.Popen
    repo: ServedRepo

    def log(self) -> str:
        return (self.repo.root / "server.log").read_text(errors="replace")


def start_server(repo: ServedRepo, env: dict[str, str] | None = None, timeout_s: float = 60.0) -> Server:
    port = free_port()
    log = open(repo.root / "server.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "runtime", "serve", "--config", CONFIG], cwd=repo.root, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "SPECOPS_SERVE_PORT": str(port), **(env or {})})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}:\n"
                                 + (repo.root / "server.log").read_text(errors="replace"))
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=1) as r:
                if r.status == 200:
                    return Server(url, port, process, repo)
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("the server did not become ready:\n" + (repo.root / "server.log").read_text(errors="replace"))


def stop_server(server: Server) -> int:
    server.process.terminate()
    try:
        return server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
        raise AssertionError("the server did not stop within 20 s of SIGTERM")


CONFIGS = "generated/runtime/pump-failure"
WORK = Path(".specops/work/pump-failure")


def train_example(root: Path, assets: int = 6, days: float = 45.0, trees: int = 80) -> str:
    """The real pipeline on generator data in ``root`` (validate-data,
    build-features, train, export-onnx with the compiled configs and a shorter
    backtest), the exported model registered as candidate; returns its version."""
    import pyarrow.parquet as pq

    from runtime.cli import main
    from runtime.contracts.steps import GeneratorConfig
    from runtime.data.generator import generate

    shutil.copytree(REPO / "generated", root / "generated")
    data = generate(GeneratorConfig(assets=assets, days=days, null_rate=0.01, out_of_order_rate=0.05))
    for name, table in (("events", data.events), ("labels", data.labels)):
        (root / "data" / name).mkdir(parents=True)
        pq.write_table(table, root / "data" / name / "part-0.parquet")
    validate = json.loads((root / CONFIGS / "validate-data.json").read_text())
    validate["as_of"] = iso(data_end(days))
    train = json.loads((root / CONFIGS / "train.json").read_text())
    # A shorter backtest than the spec's, no calibration and no early stopping: on this little
    # data they leave a model with two distinct scores, and parity over two values proves little.
    train.update(min_train_window_s=14 * 86400, folds=2, params={**train["params"], "n_estimators": trees},
                 calibration="none", early_stopping_rounds=None)
    (root / "validate-data.json").write_text(json.dumps(validate))
    (root / "train.json").write_text(json.dumps(train))
    old = Path.cwd()
    os.chdir(root)
    try:
        for step, config in (("validate-data", "validate-data.json"), ("build-features", f"{CONFIGS}/build-features.json"),
                             ("train", "train.json"), ("export-onnx", f"{CONFIGS}/export-onnx.json")):
            if main([step, "--config", config]) != 0:
                raise AssertionError(f"the {step} step failed")
        registry = Registry(".specops/artifacts")
        entry = registry.register(MODEL, {"model.onnx": WORK / "onnx/model.onnx"}, "model.onnx", {})
        registry.set_alias(MODEL, "candidate", entry.version)
    finally:
        os.chdir(old)
    return entry.version


def data_end(days: float) -> datetime:
    from runtime.contracts.steps import GeneratorConfig

    return GeneratorConfig().start + timedelta(days=days)
