"""Group commit: the prediction-log rows of the requests a server answers in
one turn of its event loop, committed in one transaction.

The predictor runs on the server's event loop, so requests that arrive
together are answered one after the other within one turn of the loop.  Each
hands its rows here and waits; the first schedules a flush for the end of the
turn (``call_soon`` runs after every callback already queued), which commits
every waiting request's rows at once and only then lets their answers go.
No answer leaves before its rows are committed, as with one transaction per
request, but a transaction's fixed cost (the WAL frame writes of the table,
index and sequence pages) is paid once per turn instead of once per request
(bench/predlog: 43 µs for one row alone, 17 µs a row in fours).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from runtime.contracts.monitoring import PredictionRecord
from runtime.predlog.store import LogError, PredictionLog

__all__ = ["GroupCommit"]


class GroupCommit:
    """One per (log, event loop); not thread-safe: only the loop's own thread appends."""

    def __init__(self, log: PredictionLog, loop: asyncio.AbstractEventLoop) -> None:
        self.log = log
        self.loop = loop
        self._waiting: list[tuple[Sequence[PredictionRecord], asyncio.Future[None]]] = []
        self.transactions = 0  # commits made (for tests and the bench: rows / transactions is the batch size)

    async def append(self, records: Sequence[PredictionRecord]) -> None:
        """Return once ``records`` are committed; raise ``LogError`` if they cannot be."""
        done: asyncio.Future[None] = self.loop.create_future()
        if not self._waiting:
            self.loop.call_soon(self._flush)
        self._waiting.append((records, done))
        await done

    def _flush(self) -> None:
        batch, self._waiting = self._waiting, []
        try:
            self.log.append([r for records, _ in batch for r in records])
        except LogError as exc:
            for _, done in batch:
                if not done.cancelled():
                    done.set_exception(LogError(str(exc)))
            return
        self.transactions += 1
        for _, done in batch:
            if not done.cancelled():
                done.set_result(None)
