"""Notifiers against a real local HTTP receiver: JSON POST, bounded retries,
no retry on a client error, a missing URL recorded (never silent)."""

from __future__ import annotations

import io
import json
import time

from runtime.actions.notify import StdoutNotifier, WebhookNotifier, build_notifiers, review_pager
from runtime.contracts.steps import NotifierConfig
from http_receiver import Receiver

MESSAGE = {"kind": "incident.opened", "id": "abc123", "summary": "latency breached", "text": "latency breached"}


def test_webhook_posts_the_message_as_json() -> None:
    with Receiver() as rx:
        d = WebhookNotifier("oncall", rx.url + "/hook").send(MESSAGE)
    assert d.ok and d.attempts == 1 and d.status == 200
    (req,) = rx.requests
    assert (req.method, req.path) == ("POST", "/hook")
    assert req.body == MESSAGE
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["Idempotency-Key"] == "abc123"


def test_webhook_retries_a_server_error_then_delivers() -> None:
    replies = iter([(503, {}), (500, {}), (200, {"ok": True})])
    sleeps: list[float] = []
    with Receiver(respond=lambda m, p, b: next(replies)) as rx:
        d = WebhookNotifier("oncall", rx.url, max_attempts=3, sleep=sleeps.append).send(MESSAGE)
    assert d.ok and d.attempts == 3 and len(rx.requests) == 3
    assert sleeps == [0.5, 1.0]  # exponential backoff between attempts


def test_webhook_gives_up_after_max_attempts_and_says_why() -> None:
    with Receiver(respond=lambda m, p, b: (502, {})) as rx:
        d = WebhookNotifier("oncall", rx.url, max_attempts=4, sleep=lambda s: None).send(MESSAGE)
    assert not d.ok and d.attempts == 4 and len(rx.requests) == 4
    assert d.status == 502 and "502" in (d.error or "")


def test_webhook_does_not_retry_a_client_error() -> None:
    with Receiver(respond=lambda m, p, b: (404, {})) as rx:
        d = WebhookNotifier("oncall", rx.url, max_attempts=3, sleep=lambda s: None).send(MESSAGE)
    assert not d.ok and d.attempts == 1 and len(rx.requests) == 1 and "not retried" in (d.error or "")


def test_webhook_timeout_is_bounded() -> None:
    def slow(m: str, p: str, b: object) -> tuple[int, object]:
        time.sleep(1.0)
        return 200, {}

    with Receiver(respond=slow) as rx:
        t0 = time.monotonic()
        d = WebhookNotifier("oncall", rx.url, timeout_s=0.2, max_attempts=2, sleep=lambda s: None).send(MESSAGE)
        took = time.monotonic() - t0
    assert not d.ok and d.attempts == 2
    assert took < 1.5  # two 0.2 s attempts, not two 1 s waits


def test_unreachable_webhook_is_a_failed_delivery_not_a_traceback() -> None:
    d = WebhookNotifier("oncall", "http://127.0.0.1:9/", timeout_s=0.5, max_attempts=2, sleep=lambda s: None).send(MESSAGE)
    assert not d.ok and d.attempts == 2 and d.error


def test_stdout_is_one_json_line() -> None:
    out = io.StringIO()
    d = StdoutNotifier("console", out).send(MESSAGE)
    assert d.ok
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and json.loads(lines[0]) == {**MESSAGE, "notifier": "console"}


def test_a_webhook_without_its_url_variable_fails_naming_the_variable() -> None:
    configs = (NotifierConfig(name="oncall", type="webhook", url_env="SPECOPS_NOTIFIER_ONCALL_URL",
                              url_ref="oncall-webhook/url"),)
    (n,) = build_notifiers(configs, environ={})
    d = n.send(MESSAGE)
    assert not d.ok and "SPECOPS_NOTIFIER_ONCALL_URL" in (d.error or "") and "oncall-webhook/url" in (d.error or "")


def test_review_pager_reaches_the_webhook() -> None:
    configs = (NotifierConfig(name="oncall", type="webhook", url_env="HOOK"),)
    with Receiver() as rx:
        page = review_pager(configs, environ={"HOOK": rx.url + "/page"})
        (d,) = page({"model": "pump-failure", "item": "r1/0", "notify": ["oncall"], "reason": "review overdue by 5s"})
    assert d.ok
    assert rx.requests[0].body["kind"] == "review.page" and rx.requests[0].body["item"] == "r1/0"
