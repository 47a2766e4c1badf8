"""SpecOps compiler: YAML specs -> diagnostics, plans and GitOps artifacts.

Stages are pure functions from one typed value to the next::

    load -> validate -> resolve -> check -> (plan -> emit -> write)

Only the CLI and the writer touch the disk.
"""

from compiler.version import __version__

__all__ = ["__version__"]
