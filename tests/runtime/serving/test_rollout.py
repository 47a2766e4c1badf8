"""In a cluster the runtime's only change is canary traffic to 0: the merge
patch touches exactly the paths the generated Argo CD Applications ignore,
and the kubernetes client sends it as a JSON merge patch to the
InferenceService (a local HTTP endpoint records what an API server would
receive; no cluster runs here)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import yaml

from runtime.serving.rollout import (
    CANARY_POINTER, KSERVE_GROUP, MERGE_PATCH, apply_canary_rollback, canary_rollback_patch, merge_patch_pointers,
)

REPO = Path(__file__).resolve().parents[3]


def ignored_pointers() -> set[str]:
    out: set[str] = set()
    for path in sorted((REPO / "generated/argocd").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            spec = doc["spec"].get("template", {}).get("spec", doc["spec"])  # an ApplicationSet's template
            for entry in spec.get("ignoreDifferences", ()):
                if (entry["group"], entry["kind"]) == (KSERVE_GROUP, "InferenceService"):
                    out.update(entry["jsonPointers"])
    return out


def merge(target: object, patch: object) -> object:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge(out.get(k), v)
    return out


def test_the_patch_touches_exactly_what_argocd_ignores() -> None:
    patch = canary_rollback_patch()
    assert patch == {"spec": {"predictor": {"canaryTrafficPercent": 0}}}
    assert set(merge_patch_pointers(patch)) == ignored_pointers() == {CANARY_POINTER}
    isvc = yaml.safe_load((REPO / "generated/prod/inferenceservice-pump-failure.yaml").read_text())
    patched = merge(isvc, patch)
    assert patched["spec"]["predictor"]["canaryTrafficPercent"] == 0
    patched["spec"]["predictor"]["canaryTrafficPercent"] = isvc["spec"]["predictor"]["canaryTrafficPercent"]
    assert patched == isvc  # nothing else changed


def test_the_client_sends_a_merge_patch_to_the_inference_service() -> None:
    from kubernetes import client

    seen: list[tuple[str, str, str | None, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PATCH(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            seen.append((self.command, self.path, self.headers.get("content-type"), body))
            answer = json.dumps({"kind": "InferenceService", "spec": {"predictor": {"canaryTrafficPercent": 0}}})
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(answer.encode())

        def log_message(self, *_: object) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        configuration = client.Configuration(host=f"http://127.0.0.1:{server.server_port}")
        api = client.CustomObjectsApi(client.ApiClient(configuration))
        answer = apply_canary_rollback("pump-failure", "pm-prod", api)
    finally:
        server.shutdown()
        server.server_close()
    assert seen == [("PATCH", "/apis/serving.kserve.io/v1beta1/namespaces/pm-prod/inferenceservices/pump-failure",
                     MERGE_PATCH, {"spec": {"predictor": {"canaryTrafficPercent": 0}}})]
    assert answer["spec"]["predictor"]["canaryTrafficPercent"] == 0
