"""Group commit: the log rows of the requests answered in one turn of the
server's event loop go in one transaction, and no request is let go before
its rows are committed (real SQLite, a real asyncio loop)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from runtime.predlog.group import GroupCommit
from runtime.predlog.store import LogError, PredictionLog
from tests.runtime.predlog.test_predlog_store import rec


def test_requests_of_one_loop_turn_share_one_transaction_and_wait_for_it(log: PredictionLog, tmp_path: Path) -> None:
    reader = PredictionLog(tmp_path / "wal" / "log.db")  # another connection: sees only committed rows
    seen: list[int] = []

    async def request(group: GroupCommit, n: int) -> None:
        await group.append([rec(n), rec(n + 1000)])
        seen.append(reader.stats()["rows"])  # what is committed when this answer is let go

    async def burst() -> GroupCommit:
        group = GroupCommit(log, asyncio.get_running_loop())
        await asyncio.gather(*(request(group, n) for n in range(8)))  # 8 requests ready in one turn
        await asyncio.gather(*(request(group, n) for n in range(8, 11)))  # then 3 more
        return group

    group = asyncio.run(burst())
    reader.close()
    assert group.transactions == 2  # 11 requests, 22 rows, 2 commits
    assert seen == [16] * 8 + [22] * 3  # every answer left after its own rows (and its turn's) were committed
    assert [r.request_id for r in log.records()][:4] == ["r0", "r1000", "r1", "r1001"]  # each request's rows together


def test_a_failed_commit_fails_every_request_of_its_turn(log: PredictionLog) -> None:
    async def burst() -> list[object]:
        group = GroupCommit(log, asyncio.get_running_loop())
        await group.append([rec(1)])
        log.close()  # the log's file is gone from under the server
        return await asyncio.gather(*(group.append([rec(n)]) for n in range(2, 6)), return_exceptions=True)

    outcomes = asyncio.run(burst())
    assert len(outcomes) == 4 and all(isinstance(o, LogError) for o in outcomes), outcomes
