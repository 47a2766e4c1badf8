"""Online predictions: the predictor every InferenceService (and `specops
serve` locally) runs, as a ``kserve.Model``.

One module per concern: ``errors`` (what a caller did wrong, as HTTP
statuses), ``request`` (the V1 / V2 request contract), ``online`` (features
from the online store, freshness), ``scoring`` (the ONNX session),
``policy`` (prediction rules -> action), ``review`` (the human-review
hand-off), ``metrics`` (the catalog's Prometheus series), ``release`` (which
model file a config serves), ``predictor`` (the kserve.Model tying them
together), ``guard`` and ``openapi`` (HTTP edges), ``server`` (the kserve
ModelServer); ``loaded`` (a loaded, warmed release and the arms swapped
atomically), ``canary`` (champion/challenger split, shadow, analysis and
rollback), ``reload`` (when to reload), ``control`` (the runtime-control
file), ``rollout`` (the cluster's one permitted change: canary traffic to 0).
"""

__all__: list[str] = []
