"""Human review of escalated predictions: a durable queue (SQLite or
PostgreSQL) worked by reviewers over HTTP or the CLI, with every action in
the hash-chained audit log (``runtime.audit``) and decisions exported as
training labels.

Modules: ``item`` (what the queue holds), ``queue`` (enqueue, claim,
decide, timeouts), ``labels`` (decisions -> labels), ``http`` (the
endpoints), ``cli`` (``python -m runtime review ...``).
"""

from runtime.review.item import Claim, EscalatedPrediction, QueueItem
from runtime.review.queue import ReviewError, ReviewQueue

__all__ = ["Claim", "EscalatedPrediction", "QueueItem", "ReviewError", "ReviewQueue"]
