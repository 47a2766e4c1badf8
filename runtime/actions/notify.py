"""Notifiers: where a page goes.  ``webhook`` (also ``slack``/``pagerduty``
incoming-webhook URLs) is a JSON POST with a per-attempt timeout and bounded
retries; ``stdout`` is one JSON line.

A delivery never raises: it returns a ``Delivery`` saying what happened, so
the caller records a failed page as evidence instead of losing it in a
traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any, Protocol

from runtime.contracts.steps import NotifierConfig

__all__ = ["Delivery", "Notifier", "StdoutNotifier", "UnconfiguredNotifier", "WebhookNotifier", "build_notifiers",
           "deliver", "review_pager"]

log = logging.getLogger("runtime.actions")

# Retry only what may succeed later: network errors, 5xx and 429.
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Delivery:
    notifier: str
    ok: bool
    attempts: int
    status: int | None = None  # the last HTTP status (webhooks)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"notifier": self.notifier, "ok": self.ok, "attempts": self.attempts, "status": self.status,
                "error": self.error}


class Notifier(Protocol):
    name: str

    def send(self, message: Mapping[str, Any]) -> Delivery: ...


def _body(message: Mapping[str, Any]) -> str:
    return json.dumps(dict(message), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


class StdoutNotifier:
    def __init__(self, name: str, stream: IO[str] | None = None) -> None:
        self.name = name
        self._stream = stream

    def send(self, message: Mapping[str, Any]) -> Delivery:
        stream = self._stream or sys.stdout
        try:
            stream.write(_body({**message, "notifier": self.name}) + "\n")
            stream.flush()
        except (OSError, ValueError) as exc:  # a closed pipe must not take the monitor down
            return Delivery(self.name, False, 1, error=f"stdout: {exc}")
        return Delivery(self.name, True, 1)


class WebhookNotifier:
    def __init__(self, name: str, url: str, *, timeout_s: float = 5.0, max_attempts: int = 3,
                 backoff_s: float = 0.5, sleep: Callable[[float], None] = time.sleep) -> None:
        self.name = name
        self._url = url
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self._sleep = sleep

    def send(self, message: Mapping[str, Any]) -> Delivery:
        data = _body(message).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "specops-notifier/1"}
        if message.get("id"):
            # Receivers that deduplicate (PagerDuty, most incident tools) see one event per incident id.
            headers["Idempotency-Key"] = str(message["id"])
        status: int | None = None
        error: str | None = None
        for attempt in range(1, self.max_attempts + 1):
            request = urllib.request.Request(self._url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310 - the URL is the operator's
                    status = response.status
                    return Delivery(self.name, True, attempt, status)
            except urllib.error.HTTPError as exc:
                status, error = exc.code, f"HTTP {exc.code} {exc.reason}"
                if exc.code not in _RETRY_STATUS:
                    return Delivery(self.name, False, attempt, status, error + " (not retried)")
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                status, error = None, f"{type(reason).__name__}: {reason}"
            if attempt < self.max_attempts:
                self._sleep(self.backoff_s * 2 ** (attempt - 1))
        return Delivery(self.name, False, self.max_attempts, status, error)


class UnconfiguredNotifier:
    """A webhook whose URL is missing from the environment: every send fails
    with a message saying which variable to set, so the page is recorded as
    undelivered (never silently dropped)."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        self.problem = problem

    def send(self, message: Mapping[str, Any]) -> Delivery:
        return Delivery(self.name, False, 0, error=self.problem)


def build_notifiers(configs: tuple[NotifierConfig, ...], environ: Mapping[str, str] | None = None,
                    stream: IO[str] | None = None) -> tuple[Notifier, ...]:
    env = os.environ if environ is None else environ
    out: list[Notifier] = []
    for c in configs:
        if c.type == "stdout":
            out.append(StdoutNotifier(c.name, stream))
            continue
        url = env.get(c.url_env or "", "").strip()
        if not url:
            where = f" (mapped from the Secret {c.url_ref})" if c.url_ref else ""
            out.append(UnconfiguredNotifier(c.name, f"notifier {c.name!r}: environment variable {c.url_env} is not "
                                                    f"set{where}; set it to the {c.type} URL"))
        elif not url.startswith(("http://", "https://")):
            out.append(UnconfiguredNotifier(c.name, f"notifier {c.name!r}: {c.url_env} is not an http(s) URL"))
        else:
            out.append(WebhookNotifier(c.name, url, timeout_s=c.timeout_s, max_attempts=c.max_attempts))
    return tuple(out)


def deliver(notifiers: tuple[Notifier, ...], message: Mapping[str, Any]) -> tuple[Delivery, ...]:
    deliveries = tuple(n.send(message) for n in notifiers)
    for d in deliveries:
        if not d.ok:
            log.warning("notifier %s: page %s not delivered: %s", d.notifier, message.get("id"), d.error)
    return deliveries


def review_pager(configs: tuple[NotifierConfig, ...], environ: Mapping[str, str] | None = None,
                 stream: IO[str] | None = None) -> Callable[[dict[str, Any]], tuple[Delivery, ...]]:
    """The review queue's ``pager``: a timed-out item escalated to ``page``
    goes to every configured notifier of the model's ``review.notify``."""
    notifiers = build_notifiers(configs, environ, stream)

    def page(event: dict[str, Any]) -> tuple[Delivery, ...]:
        summary = f"review of {event.get('item')} ({event.get('model')}): {event.get('reason')}"
        message = {"kind": "review.page", "id": f"review/{event.get('item')}", "summary": summary, "text": summary,
                   **event}
        if not notifiers:
            log.warning("PAGE (no notifier configured) %s", message)
        return deliver(notifiers, message)

    return page
