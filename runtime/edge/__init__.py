"""The edge runner: serve predictions on a gateway from a signed bundle, and
never switch to a bundle that is not verified and healthy.

``source`` (where bundles come from, fetched with fsspec), ``store`` (the
on-disk ``current`` / ``previous`` slots, switched atomically), ``health``
(golden inputs through onnxruntime, latency within the budget), ``loaded``
(verify + health -> a servable bundle), ``incidents`` (durable JSON),
``metrics``, ``runner`` (startup, rollback, install, poll) and ``http`` (the
small local API).  ``python -m runtime edge-run`` is ``runtime.steps.edge_run``.
"""

__all__: list[str] = []
