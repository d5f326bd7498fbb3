"""The harvest benchmark's machinery on a handful of pages (the real run is not a test)."""

from __future__ import annotations

from pathlib import Path

from service.harvest.bench import BenchSettings, markdown, run_benchmark, synthetic_site


def test_synthetic_site_names_every_page_once() -> None:
    site = synthetic_site("http://h", pages=5, per_manifest=2, sizes=[(10, 20), (30, 40)])
    assert sorted(site) == ["/collection.json", "/m/00000.json", "/m/00001.json", "/m/00002.json"]
    assert site["/m/00002.json"].count(b'"type": "Canvas"') == 1
    assert b'"http://h/img/4.jpg"' in site["/m/00002.json"]


def test_a_tiny_benchmark_runs_end_to_end(tmp_path: Path) -> None:
    settings = BenchSettings(pages=4, per_manifest=2, breakdown_pages=2, analysis_width=400)
    report = run_benchmark(settings, tmp_path)
    assert report["pages"] == 4 and report["breakdown_pages"] == 2
    assert report["end_to_end"]["pages_per_s"] > 0
    assert set(report["stages_ms_per_page"]) == {"fetch", "decode", "infer", "write"}
    assert report["decode_limit"]["pages_per_s"] > report["end_to_end"]["pages_per_s"]
    assert len(markdown(report).splitlines()) == 2 + 1 + 4 + 1 + 1
