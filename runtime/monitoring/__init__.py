"""Monitoring: what the served predictions say about the models serving them.

``psi`` (population stability index: one implementation for canary
analysis and drift), ``incidents`` (incidents recorded durably, once per key),
``slo`` (ServiceLevel objectives evaluated as the generated PrometheusRules
do, over ``series``: promtool vectors or the series ``log_metrics`` rebuilds
from the prediction log and review store), ``report`` / ``render`` (the
monitor's text, JSON and HTML report).
"""

__all__: list[str] = []
