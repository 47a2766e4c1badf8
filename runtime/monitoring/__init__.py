"""Monitoring: what the served predictions say about the models serving them.

``psi`` (population stability index: one implementation for canary analysis
and drift), ``reference`` (the training reference profile), ``drift``,
``labels`` (joining labels as they mature), ``performance`` (realized and
estimated quality), ``sources`` (loaders), ``incidents`` (recorded durably,
once per key).
"""

__all__: list[str] = []
