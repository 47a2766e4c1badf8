"""Incidents and action firings, persisted beside the audit log.

The same database as the audit log (SQLite under the work dir by default,
the review store's PostgreSQL in a cluster), so a state change and its audit
record commit in one transaction, and a restarted or second monitor sees
what was done.  Two guards make concurrent monitors safe: ``open_slot`` is
unique while an incident is open (one incident per objective), and a firing
is claimed by a conditional upsert (one monitor executes each action).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from runtime.actions.decide import OpenIncident, StateView
from runtime.audit.database import Database, Tx
from runtime.audit.log import AUDIT_DDL, AuditLog
from runtime.contracts.monitoring import Incident

__all__ = ["ACTOR", "STATE_DDL", "ActionState"]

ACTOR = "system:enforcer"
# A firing claimed longer ago than this without an outcome (its monitor died) may be claimed again.
STALE_CLAIM_US = 15 * 60 * 1_000_000


def _ddl(big: str) -> tuple[str, ...]:
    return (
        f"""CREATE TABLE IF NOT EXISTS action_incidents (
            id TEXT PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL, model TEXT NOT NULL,
            environment TEXT NOT NULL, objective_key TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
            opened_at_us {big} NOT NULL, resolved_at_us {big}, ok_streak INTEGER NOT NULL, breaches INTEGER NOT NULL,
            summary TEXT NOT NULL, declared TEXT NOT NULL, actions_taken TEXT NOT NULL, evidence TEXT NOT NULL,
            open_slot TEXT UNIQUE)""",
        f"""CREATE TABLE IF NOT EXISTS action_firings (
            incident_id TEXT NOT NULL, action TEXT NOT NULL, scope TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'suppressed')),
            at_us {big} NOT NULL, attempts INTEGER NOT NULL, detail TEXT NOT NULL,
            PRIMARY KEY (incident_id, action))""",
        "CREATE INDEX IF NOT EXISTS action_firings_scope ON action_firings (scope, status, at_us)",
    )


STATE_DDL: dict[str, tuple[str, ...]] = {
    "sqlite": (*AUDIT_DDL["sqlite"], *_ddl("INTEGER")),
    "postgres": (*AUDIT_DDL["postgres"], *_ddl("BIGINT")),
}

_INCIDENT = ("id", "kind", "key", "model", "environment", "opened_at_us", "summary", "actions_taken", "evidence",
             "status", "resolved_at_us")


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _slot(model: str, environment: str, objective_key: str) -> str:
    return f"{model}/{environment}/{objective_key}"


def _incident(row: tuple[Any, ...]) -> Incident:
    d = dict(zip(_INCIDENT, row))
    return Incident(id=d["id"], kind=d["kind"], key=d["key"], model=d["model"], environment=d["environment"],
                    opened_at_us=int(d["opened_at_us"]), summary=d["summary"],
                    actions_taken=tuple(json.loads(d["actions_taken"])), evidence=json.loads(d["evidence"]),
                    status=d["status"], resolved_at_us=None if d["resolved_at_us"] is None else int(d["resolved_at_us"]))


class ActionState:
    def __init__(self, db: Database) -> None:
        self.db = db

    def setup(self) -> "ActionState":
        self.db.setup(STATE_DDL)
        return self

    # ------------------------------------------------------------- reading

    def view(self, model: str, environment: str) -> StateView:
        with self.db.transaction() as tx:
            rows = tx.rows("SELECT id, objective_key, declared, ok_streak, breaches FROM action_incidents "
                           "WHERE model = ? AND environment = ? AND status = 'open'", (model, environment))
            firings = tx.rows("SELECT f.incident_id, f.action, f.status, f.at_us FROM action_firings f "
                              "JOIN action_incidents i ON i.id = f.incident_id "
                              "WHERE i.model = ? AND i.environment = ? AND i.status = 'open'", (model, environment))
            last = tx.rows("SELECT scope, MAX(at_us) FROM action_firings WHERE scope LIKE ? AND status = 'done' "
                           "GROUP BY scope", (f"{model}/{environment}/%",))
        done: dict[str, dict[str, int]] = {}
        suppressed: dict[str, set[str]] = {}
        for inc_id, action, status, at_us in firings:
            if status == "done":
                done.setdefault(inc_id, {})[action] = int(at_us)
            elif status == "suppressed":
                suppressed.setdefault(inc_id, set()).add(action)
        incidents = {key: OpenIncident(i, key, tuple(json.loads(declared)), int(streak), int(breaches),
                                       done.get(i, {}), frozenset(suppressed.get(i, ())))
                     for i, key, declared, streak, breaches in rows}
        return StateView(incidents, {scope: int(at) for scope, at in last})

    def incident(self, incident_id: str) -> Incident:
        with self.db.transaction() as tx:
            return self._get(tx, incident_id)

    def incidents(self, model: str | None = None, status: str | None = None) -> tuple[Incident, ...]:
        sql, args = f"SELECT {', '.join(_INCIDENT)} FROM action_incidents WHERE 1 = 1", []
        if model:
            sql, args = sql + " AND model = ?", [*args, model]
        if status:
            sql, args = sql + " AND status = ?", [*args, status]
        with self.db.transaction() as tx:
            return tuple(_incident(r) for r in tx.rows(sql + " ORDER BY opened_at_us, id", args))

    def firing(self, incident_id: str, action: str) -> dict[str, Any] | None:
        with self.db.transaction() as tx:
            rows = tx.rows("SELECT status, at_us, attempts, detail FROM action_firings WHERE incident_id = ? "
                           "AND action = ?", (incident_id, action))
        if not rows:
            return None
        status, at_us, attempts, detail = rows[0]
        return {"status": status, "at_us": int(at_us), "attempts": int(attempts), "detail": json.loads(detail)}

    @staticmethod
    def _get(tx: Tx, incident_id: str) -> Incident:
        rows = tx.rows(f"SELECT {', '.join(_INCIDENT)} FROM action_incidents WHERE id = ?", (incident_id,))
        if not rows:
            raise KeyError(incident_id)
        return _incident(rows[0])

    # ------------------------------------------------------------- writing

    def open(self, incident: Incident, objective_key: str, declared: tuple[str, ...], at_us: int) -> bool:
        """Record a new open incident (and audit it); False when another monitor
        already holds an open incident for this objective (or this very one)."""
        with self.db.transaction() as tx:
            added = tx.execute(
                "INSERT INTO action_incidents (id, kind, key, model, environment, objective_key, status, opened_at_us, "
                "ok_streak, breaches, summary, declared, actions_taken, evidence, open_slot) "
                "VALUES (?, ?, ?, ?, ?, ?, 'open', ?, 0, 1, ?, ?, '[]', ?, ?) ON CONFLICT DO NOTHING",
                (incident.id, incident.kind, incident.key, incident.model, incident.environment, objective_key,
                 incident.opened_at_us, incident.summary, _dump(list(declared)), _dump(dict(incident.evidence)),
                 _slot(incident.model, incident.environment, objective_key)))
            if added:
                AuditLog.append(tx, actor=ACTOR, action="incident.opened", subject=incident.id,
                                payload={"kind": incident.kind, "key": incident.key, "model": incident.model,
                                         "environment": incident.environment, "summary": incident.summary,
                                         "declared_actions": list(declared), "evidence": dict(incident.evidence)},
                                at_us=at_us)
            return bool(added)

    def observe(self, incident_id: str, ok_streak: int, breaches: int) -> None:
        with self.db.transaction() as tx:
            tx.execute("UPDATE action_incidents SET ok_streak = ?, breaches = ? WHERE id = ? AND status = 'open'",
                       (ok_streak, breaches, incident_id))

    def claim(self, incident_id: str, action: str, scope: str, at_us: int, renew_before_us: int | None = None) -> bool:
        """Take the right to execute ``action`` for the incident: only one
        monitor wins; a done action is claimed again only to renew it."""
        renew = renew_before_us if renew_before_us is not None else -1
        with self.db.transaction() as tx:
            return bool(tx.execute(
                "INSERT INTO action_firings (incident_id, action, scope, status, at_us, attempts, detail) "
                "VALUES (?, ?, ?, 'running', ?, 1, '{}') ON CONFLICT (incident_id, action) DO UPDATE SET "
                "status = 'running', at_us = excluded.at_us, attempts = action_firings.attempts + 1 "
                "WHERE action_firings.status IN ('failed', 'suppressed') "
                "OR (action_firings.status = 'running' AND action_firings.at_us < ?) "
                "OR (action_firings.status = 'done' AND action_firings.at_us <= ?)",
                (incident_id, action, scope, at_us, at_us - STALE_CLAIM_US, renew)))

    def finish(self, incident_id: str, action: str, ok: bool, detail: Mapping[str, Any], at_us: int) -> Incident:
        """Record an action's outcome on its firing, the incident's evidence and the audit log, together."""
        with self.db.transaction() as tx:
            tx.execute("UPDATE action_firings SET status = ?, detail = ? WHERE incident_id = ? AND action = ?",
                       ("done" if ok else "failed", _dump(dict(detail)), incident_id, action))
            inc = self._get(tx, incident_id)
            evidence = dict(inc.evidence)
            evidence.setdefault("actions", []).append({"action": action, "ok": ok, "at_us": at_us, **dict(detail)})
            taken = list(inc.actions_taken) + ([action] if ok and action not in inc.actions_taken else [])
            tx.execute("UPDATE action_incidents SET actions_taken = ?, evidence = ? WHERE id = ?",
                       (_dump(taken), _dump(evidence), incident_id))
            AuditLog.append(tx, actor=ACTOR, action=f"action.{action}" if ok else f"action.{action}.failed",
                            subject=incident_id, payload={"model": inc.model, "environment": inc.environment,
                                                          "detail": dict(detail)}, at_us=at_us)
            return self._get(tx, incident_id)

    def suppress(self, incident_id: str, action: str, scope: str, until_us: int, at_us: int) -> None:
        with self.db.transaction() as tx:
            tx.execute("INSERT INTO action_firings (incident_id, action, scope, status, at_us, attempts, detail) "
                       "VALUES (?, ?, ?, 'suppressed', ?, 0, ?) ON CONFLICT (incident_id, action) DO UPDATE SET "
                       "status = 'suppressed', detail = excluded.detail WHERE action_firings.status = 'failed'",
                       (incident_id, action, scope, at_us, _dump({"rate_limited_until_us": until_us})))
            inc = self._get(tx, incident_id)
            evidence = dict(inc.evidence)
            evidence.setdefault("actions", []).append({"action": action, "suppressed": "rate_limited",
                                                       "until_us": until_us, "at_us": at_us})
            tx.execute("UPDATE action_incidents SET evidence = ? WHERE id = ?", (_dump(evidence), incident_id))
            AuditLog.append(tx, actor=ACTOR, action=f"action.{action}.suppressed", subject=incident_id,
                            payload={"reason": "rate_limited", "scope": scope, "until_us": until_us}, at_us=at_us)

    def resolve(self, incident_id: str, ok_streak: int, last: Mapping[str, Any], at_us: int) -> Incident | None:
        with self.db.transaction() as tx:
            inc = self._get(tx, incident_id)
            evidence = {**dict(inc.evidence), "resolved_by": dict(last), "ok_streak": ok_streak}
            if not tx.execute("UPDATE action_incidents SET status = 'resolved', resolved_at_us = ?, ok_streak = ?, "
                              "evidence = ?, open_slot = NULL WHERE id = ? AND status = 'open'",
                              (at_us, ok_streak, _dump(evidence), incident_id)):
                return None
            AuditLog.append(tx, actor=ACTOR, action="incident.resolved", subject=incident_id,
                            payload={"ok_streak": ok_streak, "last": dict(last)}, at_us=at_us)
            return self._get(tx, incident_id)
