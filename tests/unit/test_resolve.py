"""Resolution: dangling references, duplicates across files, cycles, unused resources."""

from __future__ import annotations

from compiler.lint import lint_sources
from compiler.load import SourceFile

SYSTEM = """apiVersion: specops.dev/v1alpha1
kind: System
metadata: {name: s}
spec:
  owner: me
  gitops: {repoUrl: 'https://g.example/r.git'}
  runtime: {repository: ghcr.io/a/b, tag: '1'}
  artifacts: {uri: s3://bucket/p}
  environments:
    - {name: staging, namespace: st, promotionOrder: 1}
"""
SOURCE = """apiVersion: specops.dev/v1alpha1
kind: DataSource
metadata: {name: %s}
spec:
  type: file
  file: {path: data/x.parquet}
  entity: asset_id
  timestamp: ts
  fields:
    - {name: asset_id, type: string}
    - {name: ts, type: timestamp}
    - {name: v, type: float}
"""
FEATURES = """apiVersion: specops.dev/v1alpha1
kind: FeatureSet
metadata: {name: %s}
spec:
  source: {%s: %s}
  entity: asset_id
  aggregations:
    - {column: v, functions: [mean], windows: [1h]}
"""


def _lint(files: dict[str, str]):
    return lint_sources([SourceFile(k, v.encode()) for k, v in files.items()])


def test_duplicate_names_across_files_show_both_locations():
    res = _lint({"a.yaml": SYSTEM, "b.yaml": SOURCE % "events", "c.yaml": SOURCE % "events"})
    dup = [d for d in res.diagnostics if d.code == "SO302"]
    assert len(dup) == 1
    assert dup[0].location.file == "c.yaml" and dup[0].related[0][0].file == "b.yaml"


def test_dangling_reference_has_did_you_mean():
    res = _lint({"a.yaml": SYSTEM, "b.yaml": SOURCE % "events", "f.yaml": FEATURES % ("fs", "dataSource", "event")})
    (d,) = [d for d in res.diagnostics if d.code == "SO301"]
    assert d.location.file == "f.yaml" and d.location.line == 5 and d.hint == "did you mean 'events'?"


def test_cycle_reports_the_full_path():
    res = _lint({
        "a.yaml": SYSTEM,
        "f.yaml": (FEATURES % ("one", "featureSet", "two")) + "---\n" + (FEATURES % ("two", "featureSet", "three"))
        + "---\n" + (FEATURES % ("three", "featureSet", "one")),
    })
    (d,) = [d for d in res.diagnostics if d.code == "SO303"]
    assert "FeatureSet/one -> FeatureSet/two -> FeatureSet/three -> FeatureSet/one" in d.message


def test_unused_data_source_is_a_warning():
    res = _lint({"a.yaml": SYSTEM, "b.yaml": SOURCE % "events"})
    assert [(d.code, d.severity.value) for d in res.diagnostics] == [("SO304", "warning")]
    assert res.ok


def test_missing_system():
    res = _lint({"b.yaml": SOURCE % "events"})
    assert "SO305" in {d.code for d in res.diagnostics}


def test_graph_edges_point_from_referrer_to_referee():
    res = _lint({"a.yaml": SYSTEM, "b.yaml": SOURCE % "events", "f.yaml": FEATURES % ("fs", "dataSource", "events")})
    assert res.spec.graph.has_edge("FeatureSet/fs", "DataSource/events")
