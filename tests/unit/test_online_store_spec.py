"""System.spec.onlineStore and the stream delivery settings: accepted forms,
refused ones (with the reason), and how they compile into the ingest and
serve configs (a secret reference in the cluster, never a password)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from compiler.spec.datasource import StreamLocation
from compiler.spec.system import OnlineFeatureStore


@pytest.mark.parametrize("data", [
    {},
    {"backend": "memory"},
    {"backend": "sqlite", "url": "sqlite:///.specops/online.sqlite"},
    {"backend": "redis", "url": "redis://redis.pm.svc:6379/0?prefix=pm"},
    {"backend": "redis", "connection": {"secretRef": {"name": "online-store", "key": "url"}}},
])
def test_online_store_forms_accepted(data):
    OnlineFeatureStore.model_validate(data)


@pytest.mark.parametrize(("data", "message"), [
    ({"backend": "redis"}, "needs 'connection' as a secretRef"),
    ({"backend": "redis", "url": "redis://user:pw@redis:6379/0"}, "String should match pattern"),
    ({"backend": "memory", "url": "sqlite:///x"}, "takes no 'url'"),
    ({"backend": "sqlite", "url": "redis://r:6379/0"}, "is not a sqlite location"),
    ({"backend": "redis", "url": "redis://r:6379/0", "connection": {"secretRef": {"name": "a", "key": "b"}}},
     "not both"),
])
def test_online_store_forms_refused(data, message):
    with pytest.raises(ValidationError, match=message):
        OnlineFeatureStore.model_validate(data)


def test_backoff_needs_more_deliveries_than_delays():
    with pytest.raises(ValidationError, match="must be greater than the number of 'backoff'"):
        StreamLocation.model_validate({"subject": "a.b", "stream": "S", "backoff": ["1s", "5s"], "maxDeliver": 2})
    ok = StreamLocation.model_validate({"subject": "a.b", "stream": "S", "backoff": ["1s", "5s"], "maxDeliver": 3})
    assert [b.seconds for b in ok.backoff] == [1.0, 5.0] and ok.ack_wait.seconds == 30.0


def test_the_example_compiles_the_store_as_a_secret_reference(plan):
    assert plan.online_store_secret == ("online-store", "url")
    for ingester in plan.ingesters:
        assert ingester.config.online_store.model_dump(exclude_none=True) == {
            "backend": "redis", "url_env": "SPECOPS_ONLINE_STORE_URL"}
        assert ingester.local_config.online_store.url == "sqlite:///.specops/online/features.sqlite"
        assert ingester.config.consumer.dead_letter_subject == "specops.dead-letter.sensor-stream"
    for serving in plan.servings:
        assert serving.config.online_store == plan.ingesters[0].config.online_store
