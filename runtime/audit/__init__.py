"""The audit log: append-only and hash-chained over every escalation,
decision, release approval and automated action.

Modules: ``record`` (one record and its hash), ``verify`` (the first broken
record of a chain), ``database`` (SQLite / PostgreSQL, shared with the review
queue), ``log`` (append, read, verify), ``cli`` (``python -m runtime audit``).
"""

from runtime.audit.log import AuditLog
from runtime.audit.record import AuditRecord
from runtime.audit.verify import ChainVerdict, verify_chain

__all__ = ["AuditLog", "AuditRecord", "ChainVerdict", "verify_chain"]
