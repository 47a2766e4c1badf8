"""Monitoring: what the served predictions say about the models serving them.

``psi`` (population stability index: one implementation for canary analysis
and drift), ``reference`` (the training reference profile), ``drift``,
``labels`` (joining labels as they mature), ``performance`` (realized and
estimated quality), ``sources`` (loaders), ``incidents`` (recorded durably,
once per key), ``slo`` (ServiceLevel objectives evaluated as the generated
PrometheusRules do, over ``series``: promtool vectors or what ``log_metrics``
rebuilds from the prediction log and review store), ``report`` / ``render``
(the monitor's text, JSON and HTML report).
"""

__all__: list[str] = []
