"""The demo in real headless Chromium: upload, ask, watch the trace stream, toggle a mask, download COCO JSON.

Uses the tiny random SAM 3 at score threshold 0 (its scores sit near 0.25), so masks are blobs, but every
path through the app is the real one. Screenshots go to the test's tmp dir and are copied to
/tmp/demo_screens/ for a person to look at.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from sam3.overlay import colour

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENS = Path("/tmp/demo_screens")
EXAMPLES = Path(__file__).resolve().parents[2] / "assets" / "examples"
TIMEOUT_MS = 30_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
    not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium (apt-get install -y chromium)"
),
]


@pytest.fixture(scope="module")
def app_url(tiny_checkpoint, tmp_path_factory):
    import os

    from demo.models import Models
    from tests.app_process import served

    os.environ["SAM3_AGENT_ALLOW_PRIVATE_URLS"] = "1"  # the scripted model servers run on this machine
    try:
        with served(Models.load(tiny_checkpoint, device="cpu")) as (_, url):
            yield url
    finally:
        del os.environ["SAM3_AGENT_ALLOW_PRIVATE_URLS"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(app_url)
    page.wait_for_selector("#ask-run")
    yield page
    context.close()


def shot(page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    SCREENS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SCREENS / path.name)


def set_number(page, elem_id: str, value: float) -> None:
    """Type into a slider's number box and wait until the slider itself holds the value.

    The box commits on Enter/blur; clicking Run before the slider has it sends the old value. Typing
    straight after an accordion opens can land before the box is wired up, so it is typed again.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = page.locator(f"#{elem_id} input[type=number]")
    for attempt in range(5):
        box.fill(str(value))
        page.keyboard.press("Enter")
        box.blur()
        try:
            page.wait_for_function(
                "([sel, v]) => { const r = document.querySelector(sel); return !r || Number(r.value) === v; }",
                arg=[f"#{elem_id} input[type=range]", float(value)],
                timeout=5000,
            )
            return
        except PlaywrightTimeout:
            if attempt == 4:
                raise


def download_json(page, link_selector: str) -> dict:
    with page.expect_download() as info:
        page.click(link_selector)
    return json.loads(Path(info.value.path()).read_text())


def displayed_image(page, selector: str) -> np.ndarray:
    """The picture an <img> shows, fetched from the app (PNG, so pixels are exact)."""
    src = page.get_attribute(selector, "src")
    body = page.request.get(src).body()
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def click_pixel(page, selector: str, x: float, y: float) -> None:
    """Click image pixel (x, y) of an <img> drawn with object-fit contain / scale-down, centred."""
    page.wait_for_function(
        "(sel) => { const el = document.querySelector(sel); return el && el.complete && el.naturalWidth > 0; }",
        arg=selector,
    )
    box, nw, nh, fit = page.evaluate(
        """(sel) => { const el = document.querySelector(sel); const r = el.getBoundingClientRect();
        return [[r.x, r.y, r.width, r.height], el.naturalWidth, el.naturalHeight,
                getComputedStyle(el).objectFit]; }""",
        selector,
    )
    bx, by, bw, bh = box
    scale = min(bw / nw, bh / nh)
    if fit == "scale-down":
        scale = min(scale, 1.0)
    elif fit not in ("contain",):
        scale_x, scale_y = bw / nw, bh / nh
        page.mouse.click(bx + (x + 0.5) * scale_x, by + (y + 0.5) * scale_y)
        return
    ox, oy = bx + (bw - nw * scale) / 2, by + (bh - nh * scale) / 2
    page.mouse.click(ox + (x + 0.5) * scale, oy + (y + 0.5) * scale)


def legend_selection(page, elem_id: str) -> list[int]:
    rows = page.locator(f"#{elem_id} tr.legend-row[data-selected=true]")
    return sorted(int(rows.nth(i).get_attribute("data-mask")) for i in range(rows.count()))


def decode(coco: dict) -> dict[int, np.ndarray]:
    return {a["mask_number"]: mask_utils.decode(a["segmentation"]).astype(bool) for a in coco["annotations"]}


def check_overlay(overlay: np.ndarray, original: np.ndarray, masks: dict[int, np.ndarray]) -> None:
    """Inside every exported mask the picture is the original blended with that mask's colour (alpha 0.45)."""
    assert overlay.shape == original.shape
    count = sum(m.astype(int) for m in masks.values()) if masks else np.zeros(original.shape[:2], int)
    for number, m in masks.items():
        inner = cv2.erode(m.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool) & (count == 1)
        assert inner.sum() > 20, f"mask {number} has no clear interior to check"
        expected = 0.55 * original[inner] + 0.45 * np.array(colour(number - 1), float)
        diff = np.abs(overlay[inner].astype(float) - expected).max(axis=1)
        assert np.median(diff) <= 3, f"mask {number} is not drawn in its colour where the export says it is"


def interior_point(mask: np.ndarray) -> tuple[int, int]:
    dist = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(dist.argmax()), dist.shape)
    return int(x), int(y)


def test_ask_run_toggle_and_export(page, tmp_path):
    example = EXAMPLES / "leftmost_star.png"
    original = np.asarray(Image.open(example).convert("RGB"))
    shot(page, tmp_path, "01_ask_empty")

    page.set_input_files("#ask-image input[type=file]", str(example))
    page.wait_for_selector("#ask-image img")
    page.fill("#ask-query textarea", "the leftmost star")
    page.get_by_text("Options", exact=True).click()
    set_number(page, "ask-threshold", 0)
    page.click("#ask-run")

    # The trace streams in: the planner's thought, the collapsible tool call, its overlay, the answer.
    page.wait_for_function("document.querySelector('#ask-status')?.innerText.includes('mask(s) selected')")
    bots = page.locator("#ask-chat [data-testid=bot]")
    texts = " ".join(bots.all_inner_texts())
    assert bots.count() >= 4, texts
    assert "Planner" in texts and "leftmost" in texts and "Answer" in texts
    titles = page.locator("#ask-chat .thought-group .title").all_inner_texts()
    assert any("segment" in t and "star" in t for t in titles), titles
    assert page.locator("#ask-chat [data-testid=bot] img").count() >= 1  # the tool result's overlay, inline
    page.wait_for_selector("#ask-result img")
    shot(page, tmp_path, "02_ask_answer")
    page.evaluate("document.querySelectorAll('#ask-chat *').forEach(e => { if (e.scrollTop) e.scrollTop = 0; })")
    page.locator("#ask-chat").screenshot(path=str(tmp_path / "02b_ask_trace_top.png"))
    shutil.copy(tmp_path / "02b_ask_trace_top.png", SCREENS / "02b_ask_trace_top.png")

    selected = legend_selection(page, "ask-legend")
    assert selected, "the tiny model at threshold 0 finds the star phrase somewhere"
    coco_link = "#ask-files a[download$='_masks_coco.json']"
    coco = download_json(page, coco_link)
    assert coco["images"][0]["width"] == 640 and coco["images"][0]["height"] == 480
    assert coco["info"]["query"] == "the leftmost star"
    masks = decode(coco)
    assert sorted(masks) == selected
    assert all(m.shape == (480, 640) for m in masks.values())
    check_overlay(displayed_image(page, "#ask-result img"), original, masks)

    # Click inside the first mask: it leaves the answer (picture, legend, export follow); again: it is back.
    target = selected[0]
    others = sum((m for n, m in masks.items() if n != target), np.zeros((480, 640), bool))
    x, y = interior_point(masks[target] & ~others)
    for verb in ("removed from", "added to"):
        old_href = page.get_attribute(coco_link, "href")
        click_pixel(page, "#ask-result img", x, y)
        page.wait_for_function(
            "([sel, old]) => { const a = document.querySelector(sel); return a && a.getAttribute('href') !== old; }",
            arg=[coco_link, old_href],
        )
        status = page.inner_text("#ask-status")
        toggled = re.search(r"mask (\d+) \(.*\) (removed from|added to) the answer", status)
        assert toggled, status
        number = int(toggled.group(1))
        now = legend_selection(page, "ask-legend")
        assert now == sorted(set(selected) ^ {number})
        coco = download_json(page, coco_link)
        assert sorted(decode(coco)) == now
        check_overlay(displayed_image(page, "#ask-result img"), original, decode(coco))
        if verb == "removed from":
            assert toggled.group(2) == verb and number == target
            shot(page, tmp_path, "03_ask_mask_removed")
        selected = now
    trace_link = "#ask-files a[download$='_agent_trace.json']"
    trace = download_json(page, trace_link)
    assert trace["query"] == "the leftmost star" and trace["backend"] == "spatial"
    assert [s["type"] for s in trace["steps"]][-1] == "final"


def test_segment_tab_boxes_and_cache(page, tmp_path):
    page.click("button[role=tab]:has-text('Segment')")
    page.set_input_files("#seg-image input[type=file]", str(EXAMPLES / "squares_except_red.png"))
    page.wait_for_selector("#seg-canvas img")
    page.fill("#seg-phrases textarea", "square, red square")
    set_number(page, "seg-threshold", 0)
    page.click("#seg-run")
    page.wait_for_function("document.querySelector('#seg-status')?.innerText.includes('mask(s) for')")
    first = page.inner_text("#seg-status")
    assert "'square', 'red square'" in first and "cached" not in first, first

    # Two clicks on the picture make a positive exemplar box, drawn at once; Segment again: no re-encoding.
    click_pixel(page, "#seg-canvas img", 150, 260)
    page.wait_for_function("document.querySelector('#seg-boxes')?.innerText.includes('First corner')")
    click_pixel(page, "#seg-canvas img", 200, 360)
    page.wait_for_function("document.querySelector('#seg-boxes')?.innerText.includes('1 exemplar box')")
    page.click("#seg-run")
    page.wait_for_function("document.querySelector('#seg-status')?.innerText.includes('positive')")
    second = page.inner_text("#seg-status")
    assert "encode 0 ms (image already encoded: cached)" in second, second
    canvas = displayed_image(page, "#seg-canvas img")
    assert canvas.shape == (480, 640, 3)
    green = [tuple(canvas[300, x]) == (40, 200, 70) for x in range(145, 156)]
    assert any(green), "the positive box's green edge should run near x = 150"
    coco = download_json(page, "#seg-files a[download$='_masks_coco.json']")
    assert len(coco["annotations"]) == page.locator("#seg-legend tr.legend-row").count()
    shot(page, tmp_path, "04_segment_box")


def test_bad_upload_and_video_tab(page, tmp_path):
    bad = tmp_path / "holiday.png"
    bad.write_text("this is not a picture")
    page.set_input_files("#ask-image input[type=file]", str(bad))
    page.wait_for_function("document.querySelector('#ask-status')?.innerText.includes('not an image')")
    assert "not an image: holiday.png" in page.inner_text("#ask-status")
    page.fill("#ask-query textarea", "the leftmost star")
    page.click("#ask-run")
    page.wait_for_function("document.querySelector('#ask-status')?.innerText.includes('upload an image first')")
    shot(page, tmp_path, "05_bad_upload")


def _use_server(page, url: str, key: str) -> None:
    page.click("#ask-backend label:has-text('OpenAI-compatible server')")
    page.wait_for_selector("#ask-url textarea")
    page.fill("#ask-url textarea", url)
    page.fill("#ask-model-name textarea", "scripted-vlm")
    page.fill("#ask-api-key input", key)
    page.get_by_text("Options", exact=True).click()
    page.uncheck("#ask-fast-path input[type=checkbox]")  # every query goes to the model
    set_number(page, "ask-threshold", 0)


def test_ask_with_a_vlm_server(page, tmp_path):
    from tests.llm_server import ScriptedLLMServer, ok

    script = [
        ok('<think>First find every star.</think>{"tool": "segment", "phrases": ["star"]}'),
        ok('<think>Mask 1 is furthest to the left.</think>{"tool": "select", "masks": [1]}'),
    ]
    with ScriptedLLMServer(script) as server:
        page.set_input_files("#ask-image input[type=file]", str(EXAMPLES / "leftmost_star.png"))
        page.wait_for_selector("#ask-image img")
        page.fill("#ask-query textarea", "the leftmost star")
        _use_server(page, server.url, "sk-test-secret")
        page.click("#ask-run")
        page.wait_for_function("document.querySelector('#ask-status')?.innerText.includes('mask(s) selected')")
        texts = " ".join(page.locator("#ask-chat [data-testid=bot]").all_inner_texts())
        assert "First find every star" in texts and "furthest to the left" in texts
        titles = page.locator("#ask-chat .thought-group .title").all_inner_texts()
        assert any("segment" in t for t in titles) and any("select" in t for t in titles), titles
        assert legend_selection(page, "ask-legend") == [1]
        shot(page, tmp_path, "06_ask_vlm_server")
        assert len(server.requests) == 2
        assert server.requests[0].headers["authorization"] == "Bearer sk-test-secret"
        assert server.requests[0].images, "the model is shown the picture"
        trace = download_json(page, "#ask-files a[download$='_agent_trace.json']")
        assert trace["backend"] == "openai:scripted-vlm" and trace["llm_calls"] == 2
        assert "sk-test-secret" not in json.dumps(trace) and "sk-test-secret" not in page.inner_text("body")


def test_stop_cancels_a_run(page, tmp_path):
    from tests.llm_server import ScriptedLLMServer, ok, slow

    with ScriptedLLMServer([slow(20, ok('{"tool": "no_match"}'))]) as server:
        page.set_input_files("#ask-image input[type=file]", str(EXAMPLES / "leftmost_star.png"))
        page.wait_for_selector("#ask-image img")
        page.fill("#ask-query textarea", "the leftmost star")
        _use_server(page, server.url, "")
        page.click("#ask-run")
        page.wait_for_function("document.querySelector('#ask-status')?.innerText.includes('Running')")
        page.wait_for_function("() => true", polling=500, timeout=1500)
        page.click("#ask-stop")
        page.wait_for_function("document.querySelector('#ask-status')?.innerText.includes('Stopped')", timeout=5000)
        assert "Stopped" in page.locator("#ask-chat [data-testid=bot]").last.inner_text()
        shot(page, tmp_path, "07_ask_stopped")
        assert not page.locator("#ask-result img").count()
        # The app keeps serving: the next run (spatial) answers at once.
        page.click("#ask-backend label:has-text('spatial (no model)')")
        page.click("#ask-run")
        page.wait_for_function("document.querySelector('#ask-status')?.innerText.includes('mask(s) selected')")


def test_video_tab_tracks_a_clip(page, tmp_path):
    from shapesworld.video import render_video, sample_video, write_mp4

    clip = tmp_path / "shapes.mp4"
    write_mp4(render_video(sample_video(4, width=96, height=64, fps=10, seconds=2.0)).frames, clip, fps=10)
    page.get_by_role("tab", name="Video").click()
    page.set_input_files("#video-input input[type=file]", str(clip))
    page.wait_for_selector("#video-input video")
    page.fill("#video-phrases textarea", "red circle, star")
    page.click("#video-run")
    page.wait_for_function("document.querySelector('#video-status')?.innerText.includes('Tracked')")
    page.wait_for_selector("#video-result video")
    assert "20 frame(s)" in page.locator("#video-status").inner_text()
    assert page.locator("#video-files a").count() >= 1
    shot(page, tmp_path, "08_video_tracked")


def test_video_tab_follows_the_agents_answer_on_a_key_frame(page, tmp_path):
    from shapesworld.video import render_video, sample_video, write_mp4

    clip = tmp_path / "shapes.mp4"
    write_mp4(render_video(sample_video(4, width=96, height=64, fps=10, seconds=2.0)).frames, clip, fps=10)
    page.get_by_text("Options", exact=True).click()
    set_number(page, "ask-threshold", 0)  # the agent uses the Ask tab's backend and threshold
    page.get_by_role("tab", name="Video").click()
    page.set_input_files("#video-input input[type=file]", str(clip))
    page.wait_for_selector("#video-input video")
    page.click("#video-mode label:has-text('Agent query')")
    page.wait_for_selector("#video-query textarea")
    assert not page.locator("#video-phrases").is_visible()
    page.fill("#video-query textarea", "the leftmost shape")
    page.fill("#video-key textarea", "1")
    page.click("#video-run")
    page.wait_for_function("document.querySelector('#video-status')?.innerText.includes('followed over')")
    status = page.locator("#video-status").inner_text()
    assert "frame 10 (1.00 s)" in status and "chose 1 mask(s)" in status and "20 frame(s)" in status, status
    page.wait_for_selector("#video-key-frame img")
    page.wait_for_selector("#video-result video")
    assert page.locator("#video-files a").count() >= 1
    shot(page, tmp_path, "09_video_agent")
