"""Plaintext secrets: passwords in URLs, secret-looking keys with literal
values and well-known token formats are rejected; specs hold secretRefs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from compiler.checks.base import error
from compiler.diagnostics import Diagnostic, Severity
from compiler.resolve import ResolvedSpec
from compiler.validate import SpecNode

__all__ = ["check", "find_secrets"]

_URL_PASSWORD = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:([^/\s@]+)@")
_SECRET_KEY = re.compile(r"(?i)(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)$")
_TOKENS = (
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"), "a GitHub token"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "an AWS access key id"),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), "a Slack token"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"), "an API secret key"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"), "a JSON Web Token"),
    (re.compile(r"hooks\.slack\.com/services/[A-Za-z0-9/]+"), "a Slack webhook URL"),
)
_HINT = "store it in a Kubernetes Secret and reference it: {secretRef: {name: ..., key: ...}}"


def find_secrets(data: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """(path, what) for every plaintext secret in a document's data."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "secretRef":
                continue
            sub = path + (key,)
            if isinstance(value, str) and value and _SECRET_KEY.search(str(key)):
                yield sub, f"field '{key}' holds a literal value"
                continue
            yield from find_secrets(value, sub)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from find_secrets(value, path + (i,))
    elif isinstance(data, str):
        if _URL_PASSWORD.search(data):
            yield path, "a URL contains a password"
            return
        for pattern, what in _TOKENS:
            if pattern.search(data):
                yield path, f"the value looks like {what}"
                return


# Anything find_secrets could report contains one of these markers (case-
# insensitively) or a URL with a password; a file with none is not walked.
# Substring tests and a regex anchored on '://' are fast; one big
# case-insensitive alternation over every file was not (bench/lint).
_MARKERS = (
    "password", "passwd", "pwd", "secret", "token", "api_key", "api-key", "apikey", "access_key", "access-key",
    "accesskey", "private_key", "private-key", "privatekey", "private key", "credential",
    "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "akia", "xox", "eyj", "hooks.slack.com",
)
_URL_PASSWORD_FAST = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
_SK_FAST = re.compile(r"sk-[A-Za-z0-9_-]{20}")


def _may_contain_secrets(lines: tuple[str, ...], cache: dict[int, bool]) -> bool:
    key = id(lines)
    if key not in cache:
        text = "\n".join(lines)
        low = text.lower()
        cache[key] = (any(m in low for m in _MARKERS) or _SK_FAST.search(text) is not None
                      or ("://" in text and _URL_PASSWORD_FAST.search(text) is not None))
    return cache[key]


def check(spec: ResolvedSpec) -> Iterator[Diagnostic]:
    cache: dict[int, bool] = {}
    for node_id in sorted(spec.nodes):
        node: SpecNode = spec.nodes[node_id]
        if not _may_contain_secrets(node.document.lines, cache):
            continue
        for path, what in find_secrets(node.document.data):
            yield error("SO430", node, path, f"plaintext secret: {what}", _HINT)
    # Documents that failed validation are scanned too: a secret is a leak either way.
    for bad in spec.invalid:
        for path, what in find_secrets(bad.document.data):
            yield Diagnostic("SO430", Severity.ERROR, f"plaintext secret: {what}", bad.document.location(path, value=True),
                             hint=_HINT, resource=bad.id)
