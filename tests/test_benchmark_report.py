"""docs/benchmarks.md is generated from benchmarks/results/: every results file shows up, new ones included."""

from __future__ import annotations

import fnmatch
import json
import re

from benchmarks.report import RESULTS, SECTIONS, Section, build, main


def _linked(page: str) -> set[str]:
    """The results files the page links to (links are relative to where the page is written)."""
    return set(re.findall(r"\]\([^)\s]*results/([^)/\s]+)\)", page))


def test_every_results_file_is_on_the_page(tmp_path):
    out = tmp_path / "docs" / "benchmarks.md"
    main(["--out", str(out)])
    page = out.read_text()
    files = {p.name for p in RESULTS.iterdir() if p.is_file() and not p.name.startswith(".")}
    assert files and files <= _linked(page), sorted(files - _linked(page))
    assert all(f"## {section.title}" in page for section in SECTIONS)
    unclaimed = {n for n in files if not any(_claimed(section, n) for section in SECTIONS)}
    assert ("## Other results" in page) == bool(unclaimed)


def _claimed(section: Section, name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in section.files)


def test_a_new_benchmark_appears_without_a_section(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "click_refine.json").write_text(json.dumps({
        "objects": 3, "miou_clicks": [0.5, 0.6, 0.7], "share_iou_0.8_one_click": 0.25, "miou_box": 0.4,
        "click_ms_median": 5.0}))
    (results / "brand_new.json").write_text(json.dumps({"score": 0.125, "nested": {"n": 7}, "rows": list(range(50))}))
    (results / "with_table.md").write_text("# My table\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    (results / "with_table.json").write_text("{}")
    (results / "broken.json").write_text("{not json")
    page = build(results, tmp_path / "docs" / "benchmarks.md")
    assert _linked(page) == {
        "click_refine.json", "brand_new.json", "with_table.md", "with_table.json", "broken.json"}
    known, other = page.split("## Other results")
    assert "| 1 click | 0.500 |" in known and "| its exact box | 0.400 |" in known  # its section's renderer
    assert "brand_new" not in known and "| `score` | 0.125 |" in other and "| `nested.n` | 7 |" in other
    assert "#### My table" in other and other.index("#### My table") < other.index("with_table.json")
    assert "not readable as JSON" in other


def test_a_results_file_in_a_changed_format_is_still_shown(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "video_tracking.json").write_text(json.dumps({"clips": [], "occlusion": {"idf1": 0.5}}))
    section = Section("Tracking", "python -m x", "Intro.", ("video_tracking*",),
                      next(s.render for s in SECTIONS if "video_tracking*" in s.files))
    page = build(results, tmp_path / "benchmarks.md", (section,))
    assert "| `occlusion.idf1` | 0.500 |" in page and "## Other results" not in page


def test_tracking_results_show_each_set_and_task(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    task = {"idf1": 0.8, "mean_iou": 0.75, "precision": 0.9, "recall": 0.7, "id_switches": 1, "runs": 3}
    (results / "video_tracking.json").write_text(json.dumps({
        "mode": "associate", "threshold": 0.35, "new_object_threshold": 0.7, "text_fps": 14.2, "clips": [],
        "sets": {"occlusion": {"videos": 2, "seeds": "5..6", "text": task, "agent": {"runs": 0}}}}))
    section = next(s for s in SECTIONS if "video_tracking*" in s.files)
    page = build(results, tmp_path / "benchmarks.md", (section,))
    assert "| occlusion | text | 3 | 0.800 | 0.750 | 0.900 | 0.700 | 1 |" in page
    assert "occlusion: 2 (seeds 5..6); text tracking 14 frames/s" in page and "| occlusion | agent |" not in page
