"""Monitoring: what the served predictions say about the models serving them.

``psi`` (population stability index: one implementation for canary
analysis and drift), ``incidents`` (incidents recorded durably, once per key).
"""

__all__: list[str] = []
