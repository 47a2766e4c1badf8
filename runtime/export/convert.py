"""LightGBM -> ONNX, with the calibrator appended as graph nodes.

Decision: calibration is *in the graph*.  ``model.onnx`` alone maps the
feature vector to the calibrated probability the threshold applies to, so a
release's sha256 pins everything that scores (the champion/challenger
comparison and the edge runner load one file, no side calibrator to keep in
step).  The calibration nodes compute in float64, the same arithmetic as
``Calibrator.apply``; only the tree ensemble itself runs in float32 (in
groups of ``TREES_PER_NODE`` trees whose sums are added in float64).

Graph: ``input`` float32 [N, F] -> ``probability`` float64 [N, 1].  No
ZipMap, no label output.  onnxmltools emits the default domain at most at
opset 15; the graph is then moved to the declared opset with the ONNX
version converter.
"""

from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, version_converter

from runtime.training.calibration import LOGIT_EPS, Calibrator
from runtime.training.estimators import Fitted

__all__ = ["INPUT", "MIN_OPSET", "OUTPUT", "TREES_PER_NODE", "ExportError", "to_onnx"]

INPUT = "input"
OUTPUT = "probability"
MIN_OPSET = 9
_CONVERTER_MAX_OPSET = 15
# Trees per TreeEnsembleRegressor node; the nodes are summed in float64.  onnxruntime pays
# ~0.6 µs per node and cast on every run: for the example's 400 trees, groups of 10 made
# session.run 34 µs, groups of 100 12.9 µs, one node 9.7 µs; against groups of 10, groups of
# 100 move no probability of the 6,042 training rows by more than 4.4e-8 (one node: 2.0e-7).
TREES_PER_NODE = 100


class ExportError(Exception):
    """The model cannot be exported as declared."""


def _const(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(value, name=name)


def _calibration_nodes(cal: Calibrator, p: str) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], str]:
    """Nodes mapping the float64 column ``p`` [N, 1] to the calibrated one."""
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    if cal.method == "isotonic":
        x = np.asarray(cal.x, dtype=np.float64)
        y = np.asarray(cal.y, dtype=np.float64)
        if len(x) == 1:  # constant calibrator
            inits.append(_const("cal_const", np.array([[y[0]]])))
            nodes += [helper.make_node("Mul", [p, "cal_zero"], ["cal_zeroed"]),
                      helper.make_node("Add", ["cal_zeroed", "cal_const"], ["cal_out"])]
            inits.append(_const("cal_zero", np.array([[0.0]])))
            return nodes, inits, "cal_out"
        dx = np.diff(x)
        slope = np.where(dx > 0, np.diff(y) / np.where(dx > 0, dx, 1.0), 0.0)
        k = len(x)
        # Segment j = (number of breakpoints <= p) - 1, clipped to [0, k - 2]; then
        # y[j] + slope[j] * (clip(p, x[0], x[-1]) - x[j]) == np.interp(p, x, y).
        inits += [_const("cal_x_row", x.reshape(1, k)), _const("cal_ones", np.ones((k, 1))),
                  _const("cal_lo", np.array([[0.0]])), _const("cal_hi", np.array([[float(k - 2)]])),
                  _const("cal_one", np.array([[1.0]])), _const("cal_x", x[:-1].copy()), _const("cal_y", y[:-1].copy()),
                  _const("cal_slope", slope), _const("cal_xmin", np.array([[x[0]]])), _const("cal_xmax", np.array([[x[-1]]]))]
        nodes += [
            # x_i <= p as not(p < x_i): Less takes doubles from opset 9, Equal only from 11.
            helper.make_node("Less", [p, "cal_x_row"], ["cal_above"]),
            helper.make_node("Not", ["cal_above"], ["cal_le"]),
            helper.make_node("Cast", ["cal_le"], ["cal_le_f"], to=TensorProto.DOUBLE),
            helper.make_node("MatMul", ["cal_le_f", "cal_ones"], ["cal_count"]),
            helper.make_node("Sub", ["cal_count", "cal_one"], ["cal_j_raw"]),
            helper.make_node("Max", ["cal_j_raw", "cal_lo"], ["cal_j_lo"]),
            helper.make_node("Min", ["cal_j_lo", "cal_hi"], ["cal_j_f"]),
            helper.make_node("Cast", ["cal_j_f"], ["cal_j"], to=TensorProto.INT64),
            helper.make_node("Gather", ["cal_x", "cal_j"], ["cal_xj"], axis=0),
            helper.make_node("Gather", ["cal_y", "cal_j"], ["cal_yj"], axis=0),
            helper.make_node("Gather", ["cal_slope", "cal_j"], ["cal_sj"], axis=0),
            helper.make_node("Max", [p, "cal_xmin"], ["cal_p_lo"]),
            helper.make_node("Min", ["cal_p_lo", "cal_xmax"], ["cal_p"]),
            helper.make_node("Sub", ["cal_p", "cal_xj"], ["cal_dp"]),
            helper.make_node("Mul", ["cal_dp", "cal_sj"], ["cal_rise"]),
            helper.make_node("Add", ["cal_yj", "cal_rise"], ["cal_out"]),
        ]
        return nodes, inits, "cal_out"
    if cal.method == "sigmoid":
        inits += [_const("cal_eps", np.array([[LOGIT_EPS]])), _const("cal_1meps", np.array([[1 - LOGIT_EPS]])),
                  _const("cal_one", np.array([[1.0]])), _const("cal_a", np.array([[cal.a]])),
                  _const("cal_b", np.array([[cal.b]]))]
        nodes += [
            helper.make_node("Max", [p, "cal_eps"], ["cal_q_lo"]),
            helper.make_node("Min", ["cal_q_lo", "cal_1meps"], ["cal_q"]),
            helper.make_node("Log", ["cal_q"], ["cal_log_q"]),
            helper.make_node("Sub", ["cal_one", "cal_q"], ["cal_1mq"]),
            helper.make_node("Log", ["cal_1mq"], ["cal_log_1mq"]),
            helper.make_node("Sub", ["cal_log_q", "cal_log_1mq"], ["cal_logit"]),
            helper.make_node("Mul", ["cal_logit", "cal_a"], ["cal_ax"]),
            helper.make_node("Add", ["cal_ax", "cal_b"], ["cal_z"]),
            helper.make_node("Sigmoid", ["cal_z"], ["cal_out"]),
        ]
        return nodes, inits, "cal_out"
    return nodes, inits, p


def _margin_booster(booster: lgb.Booster) -> tuple[lgb.Booster, float]:
    """The same trees as a regression model: its output is the raw margin.

    The sigmoid is applied in float64 by the graph, after the trees are summed
    in float64 (``split``): a float32 tree ensemble with a float32 sigmoid
    differs from LightGBM by ~2e-7, which a steep isotonic segment amplifies
    past 1e-5; summed and squashed in float64 the gap is ~1e-9.
    """
    text = booster.model_to_string()
    lines = text.split("\n")
    sigma = 1.0
    for i, line in enumerate(lines):
        if line.startswith("objective="):
            parts = line[len("objective="):].split()
            if parts[0] != "binary":
                raise ExportError(f"expected a binary LightGBM model, found objective {parts[0]!r}")
            sigma = next((float(p.split(":")[1]) for p in parts[1:] if p.startswith("sigmoid:")), 1.0)
            lines[i] = "objective=regression"
            break
    else:
        raise ExportError("the LightGBM model text has no objective line")
    # The trailing parameters section names the objective too (onnxmltools reads it).
    lines = ["[objective: regression]" if line.startswith("[objective: ") else line for line in lines]
    return lgb.Booster(model_str="\n".join(lines)), sigma


def to_onnx(model: Fitted, calibrator: Calibrator, features: tuple[str, ...], *, opset: int,
            metadata: dict[str, str] | None = None) -> bytes:
    """The serialized graph; the same inputs give the same bytes."""
    if model.algorithm != "lightgbm":
        raise ExportError(f"ONNX export supports lightgbm models; this model is {model.algorithm} "
                          "(declare algorithm.type: lightgbm to export, or do not serve this model at the edge)")
    if opset < MIN_OPSET:
        raise ExportError(f"opset {opset} is below the lowest supported ({MIN_OPSET})")
    import onnxmltools  # heavy import; only the export path needs it
    from onnxmltools.convert.common.data_types import FloatTensorType

    margin_model, sigma = _margin_booster(model.model)
    try:
        m = onnxmltools.convert_lightgbm(margin_model, initial_types=[(INPUT, FloatTensorType([None, len(features)]))],
                                         target_opset=min(opset, _CONVERTER_MAX_OPSET),
                                         # onnxmltools refuses to "split" an ensemble that fits one node.
                                         split=TREES_PER_NODE if margin_model.num_trees() > TREES_PER_NODE else None)
    except (RuntimeError, ValueError, NotImplementedError) as exc:
        raise ExportError(f"onnxmltools could not convert the model: {exc}") from None
    graph = m.graph
    margin = graph.output[0].name
    nodes = list(graph.node)
    inits = list(graph.initializer)
    inits.append(_const("sigmoid_scale", np.array([[sigma]], dtype=np.float64)))
    nodes += [helper.make_node("Cast", [margin], ["margin64"], to=TensorProto.DOUBLE),
              helper.make_node("Mul", ["margin64", "sigmoid_scale"], ["margin_scaled"]),
              helper.make_node("Sigmoid", ["margin_scaled"], ["p_raw"])]
    cal_nodes, cal_inits, out = _calibration_nodes(calibrator, "p_raw")
    nodes += cal_nodes + [helper.make_node("Identity", [out], [OUTPUT])]
    inits += cal_inits
    new_graph = helper.make_graph(nodes, "specops_model", list(graph.input),
                                  [helper.make_tensor_value_info(OUTPUT, TensorProto.DOUBLE, [None, 1])],
                                  initializer=inits)
    ml_version = next((o.version for o in m.opset_import if o.domain == "ai.onnx.ml"), 1)
    base = min(opset, _CONVERTER_MAX_OPSET)
    out_model = helper.make_model(new_graph, opset_imports=[helper.make_opsetid("", base),
                                                             helper.make_opsetid("ai.onnx.ml", ml_version)],
                                  producer_name="specops", producer_version="1")
    if opset > base:
        try:
            out_model = version_converter.convert_version(out_model, opset)
        except (RuntimeError, ValueError) as exc:
            raise ExportError(f"cannot move the graph to opset {opset}: {exc}") from None
    # Self-describing: the champion/challenger comparison builds a release's
    # inputs from "specops.encoding" when the caller passes it.
    meta = {"specops.features": json.dumps(list(features)), "specops.calibration": calibrator.method, **(metadata or {})}
    for key in sorted(meta):
        entry = out_model.metadata_props.add()
        entry.key, entry.value = key, meta[key]
    try:
        onnx.checker.check_model(out_model)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"the exported graph is not valid ONNX: {exc}") from None
    return out_model.SerializeToString(deterministic=True)
