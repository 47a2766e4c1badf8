"""Training: the point-in-time table in, a gated-ready model directory out.

One module per concern: ``table`` (reading the training table), ``folds``
(rolling-origin backtest windows), ``imbalance``, ``estimators``,
``calibration``, ``threshold``, ``metrics``, ``pipeline`` (the backtest and
final fit) and ``model_dir`` (the artifact layout other steps read).
"""

__all__: list[str] = []
