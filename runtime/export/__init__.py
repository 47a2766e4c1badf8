"""Export: the trained model as one self-contained ONNX graph (calibration
inside), its parity with the native model, and the signed edge bundle.

``convert`` (LightGBM -> ONNX + calibration nodes), ``parity`` (native vs
onnxruntime, latency), ``truncation`` (fit a size budget), ``signing``
(Ed25519 keys), ``bundle`` (write and verify the edge bundle).
"""

__all__: list[str] = []
