# The SpecOps runtime image: one image for every generated workflow step, the
# predictor, the stream ingester and the edge runner.  Each of them runs
# `python -m runtime <step> --config generated/runtime/<owner>/<step>.json`;
# the manifests set that command explicitly and the ENTRYPOINT is the same,
# so `docker run IMAGE <step> --config FILE` runs a step too.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Dependencies and their version ranges come from pyproject.toml only.
WORKDIR /opt/specops
COPY pyproject.toml README.md ./
COPY compiler ./compiler
COPY runtime ./runtime
# The pods run as 10001:10001 with a read-only root filesystem; /workspace is
# their working directory (configs and scratch space are mounted under it).
RUN pip install --no-cache-dir . \
    && groupadd --system --gid 10001 specops \
    && useradd --system --uid 10001 --gid specops --home-dir /workspace --no-create-home --shell /usr/sbin/nologin specops \
    && mkdir -p /workspace \
    && chown specops:specops /workspace

WORKDIR /workspace
USER 10001:10001
# No Docker HEALTHCHECK: most uses are batch steps that exit, and the
# long-running ones (predictor, ingester, edge runner) are probed by the
# liveness/readiness probes in their generated manifests, which Kubernetes
# uses instead (the kubelet ignores a Dockerfile HEALTHCHECK).
HEALTHCHECK NONE
ENTRYPOINT ["python", "-m", "runtime"]
