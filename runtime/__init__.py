"""SpecOps runtime: what generated workflows, DVC stages and servers execute.

The runtime never parses specs and never imports ``compiler``: it reads the
compiled, typed step configs and the policy bundle defined in
``runtime.contracts``.
"""

__all__: list[str] = []
