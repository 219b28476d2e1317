"""The demo's plain-Python layer (no server): inputs, exports, toggling masks, session folders, examples."""

from __future__ import annotations

import copy
import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from demo import export, inputs
from demo.ask import AskState, prepare_request, run_ask, toggle_mask
from demo.backends import spec_for
from demo.models import DemoInputError, Models, install
from demo.render import hit_test
from demo.settings import Settings
from demo.ui import EXAMPLES_DIR, load_examples
from sam3.detections import Detections
from sam3.session import Segmenter


@pytest.fixture
def models(loaded_tiny):
    return install(Models(Segmenter(loaded_tiny)))


@pytest.fixture(autouse=True)
def temp_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    return tmp_path / "gradio"


def _dets() -> Detections:
    masks = np.zeros((3, 40, 60), bool)
    masks[0, 5:30, 5:50] = True  # big
    masks[1, 10:20, 10:20] = True  # small, inside the big one
    masks[2, 32:38, 50:58] = True
    return Detections(
        masks,
        np.array([[5, 5, 50, 30], [12, 12, 18, 18], [50, 32, 58, 38]], np.float32),
        np.array([0.9, 0.8, 0.7]),
        ["red circle", "red circle", "blue square"],
        (40, 60),
    )


def test_prepare_image_downscales_huge_and_rejects_tiny(tmp_path):
    settings = Settings(max_side=256)
    Image.new("RGB", (1024, 512), "white").save(tmp_path / "big.png")
    prepared = inputs.prepare_image(tmp_path / "big.png", settings)
    assert prepared.image.size == (256, 128) and prepared.scale == 0.25
    assert "1024x512" in prepared.notice and "256x128" in prepared.notice
    Image.new("RGB", (5, 5)).save(tmp_path / "dot.png")
    with pytest.raises(DemoInputError, match="too small"):
        inputs.prepare_image(tmp_path / "dot.png", settings)
    with pytest.raises(DemoInputError, match="upload an image"):
        inputs.prepare_image(None, settings)
    with pytest.raises(DemoInputError, match="too large"):
        inputs.prepare_image(tmp_path / "big.png", Settings(max_pixels=500_000))
    with pytest.raises(DemoInputError, match="limited to 1 MB"):
        (tmp_path / "huge.png").write_bytes(b"\0" * (2 << 20))
        inputs.prepare_image(tmp_path / "huge.png", Settings(max_upload_mb=1))
    # Boxes are given in the upload's pixels and scaled with it.
    assert inputs.parse_boxes("100,40,200,80;0,0,8,8,neg", 0.25)[0].box == (25.0, 10.0, 50.0, 20.0)


def test_phrases_queries_and_backends():
    assert inputs.parse_phrases(" red  circle,\nblue square, red circle ,,") == ["red circle", "blue square"]
    with pytest.raises(DemoInputError):
        inputs.parse_phrases(", \n")
    with pytest.raises(DemoInputError, match="too long"):
        inputs.clean_query("x" * 501)
    local = Settings()
    assert spec_for("spatial (no model)", local) == "spatial"
    typed = "OpenAI-compatible server (any URL)"
    assert spec_for(typed, local, url="http://h:8000/v1", model_name="m") == "openai:http://h:8000/v1#m"
    with pytest.raises(DemoInputError, match="model name"):
        spec_for(typed, local, url="http://h:8000/v1")
    with pytest.raises(DemoInputError, match="unknown reasoning backend"):
        spec_for(typed, Settings(public=True), url="http://h:8000/v1", model_name="m")


def test_coco_export_round_trips(tmp_path):
    det = _dets()
    files = export.SessionFiles()
    overlay = np.zeros((40, 60, 3), np.uint8)
    paths = export.write_exports(
        files, det, overlay, "../../etc/My Photo!.jpg", trace={"query": "q"}, numbers=[2, 5, 7]
    )
    assert all(p.startswith(str(export.app_temp_dir())) for p in paths)
    assert [p.rsplit("/", 1)[1] for p in paths] == [
        "My_Photo_masks_coco.json",
        "My_Photo_masks_png.zip",
        "My_Photo_overlay.png",
        "My_Photo_agent_trace.json",
    ]
    coco = json.loads(open(paths[0]).read())
    assert coco["images"] == [{"id": 1, "width": 60, "height": 40, "file_name": "My Photo!.jpg"}]
    assert [c["name"] for c in coco["categories"]] == ["red circle", "blue square"]
    for i, ann in enumerate(coco["annotations"]):
        assert np.array_equal(mask_utils.decode(ann["segmentation"]).astype(bool), det.masks[i])
        assert ann["bbox"] == [float(v) for v in mask_utils.toBbox(ann["segmentation"])]
        assert ann["area"] == int(det.masks[i].sum()) and ann["mask_number"] == [2, 5, 7][i]
    names = zipfile.ZipFile(paths[1]).namelist()
    assert names == ["mask_002_red_circle.png", "mask_005_red_circle.png", "mask_007_blue_square.png"]
    png = np.asarray(Image.open(io.BytesIO(zipfile.ZipFile(paths[1]).read(names[2]))))
    assert np.array_equal(png == 255, det.masks[2])
    files.cleanup()
    assert not files.dir.exists()


def test_session_folders_are_pruned_per_kind():
    files = export.SessionFiles()
    runs = [files.new_folder("run") for _ in range(3)]
    exports = [files.new_folder("export") for _ in range(4)]
    assert [p.exists() for p in runs] == [False, True, True]
    assert [p.exists() for p in exports] == [False, False, True, True]
    assert copy.deepcopy(files).dir is None  # each session's copy of the initial state gets its own folder


def test_hit_test_prefers_the_smallest_mask():
    det = _dets()
    assert hit_test(det, 15, 15) == 1
    assert hit_test(det, 40, 8) == 0
    assert hit_test(det, 2, 2) is None and hit_test(det, 500, 2) is None


def test_run_ask_streams_and_toggles(models):
    state = AskState()
    example = EXAMPLES_DIR / "leftmost_star.png"
    request = prepare_request(models, str(example), "the leftmost star", "spatial", threshold=0.0)
    updates = list(run_ask(models, state, request))
    assert [m["role"] for m in updates[0].messages] == ["user"]
    final = updates[-1]
    assert final.result is state.result and len(final.downloads) == 4
    call = next(m for m in final.messages if "metadata" in m)
    assert call["metadata"]["title"].startswith("🛠️ segment") and call["metadata"]["status"] == "done"
    result = state.result
    pool = result.detections
    assert sum(result.selected) == len(result.answer()) >= 1
    i = result.selected.index(True)
    ys, xs = np.nonzero(pool.masks[i])
    update, message = toggle_mask(models, state, xs[len(xs) // 2], ys[len(ys) // 2])
    assert f"mask {hit_test(pool, xs[len(xs) // 2], ys[len(ys) // 2]) + 1}" in message
    assert update.downloads != final.downloads
    assert toggle_mask(models, AskState(), 1, 1) == (None, "run a query first")


def test_examples_are_answerable_and_reproducible():
    from shapesworld.make_examples import SPECS, oracle_answer
    from shapesworld.scene import generate

    entries = load_examples()
    assert [e["query"] for e in entries] == [s.query for s in SPECS]
    for entry in entries[:2]:  # rendering is the slow part: two suffice to show the files are the script's
        scene = generate(entry["seed"], renderer="pil", width=640, height=480, max_shapes=8, effects=False)
        assert np.array_equal(np.asarray(Image.open(entry["path"]).convert("RGB")), scene.image)
        assert len(oracle_answer(scene, entry["query"])) == entry["expected_answer_masks"] >= 1


def test_banner_says_why_the_model_fell_back(loaded_tiny):
    import dataclasses

    from demo.ui import build_app

    fallen = dataclasses.replace(loaded_tiny, fallback_reason="facebook/sam3 is gated and no HF_TOKEN is set")
    app = build_app(Models(Segmenter(fallen)))
    banner = next(c for c in app.config["components"] if c["props"].get("elem_id") == "model-banner")
    assert "bundled ShapesWorld SAM 3" in banner["props"]["value"]
    assert "no HF_TOKEN" in banner["props"]["value"]
    broken = Models(None, load_error="no SAM 3 checkpoint at /nowhere")
    assert "No SAM 3 model could be loaded" in broken.banner()
    with pytest.raises(DemoInputError, match="no SAM 3 model is loaded"):
        prepare_request(broken, str(EXAMPLES_DIR / "leftmost_star.png"), "the leftmost star", "spatial")


def test_threshold_controls_start_at_the_checkpoints_calibrated_threshold(tiny_checkpoint, tmp_path):
    import shutil

    from demo.segment import segment_json
    from demo.ui import build_app
    from training.export import set_score_threshold

    calibrated = tmp_path / "calibrated"
    shutil.copytree(tiny_checkpoint, calibrated)
    set_score_threshold(calibrated, 0.21)
    models = Models.load(str(calibrated), device="cpu")
    app = build_app(models)  # installs them
    values = {
        c["props"].get("elem_id"): c["props"]["value"]
        for c in app.config["components"]
        if c["props"].get("elem_id") in ("ask-threshold", "seg-threshold")
    }
    assert values == {"ask-threshold": 0.21, "seg-threshold": 0.21}
    image = str(EXAMPLES_DIR / "leftmost_star.png")
    assert segment_json(models, image, "star", None)["threshold"] == 0.21  # an API call without one
    assert segment_json(models, image, "star", 0.4)["threshold"] == 0.4
    with pytest.raises(DemoInputError, match=r"in \[0, 1\]"):
        segment_json(models, image, "star", 1.5)
    with pytest.raises(DemoInputError, match="a number"):
        models.threshold("high")


def test_refinement_points_make_one_mask_without_re_encoding(tiny_checkpoint):
    from demo.models import Models
    from demo.segment import SegmentState, clear_boxes, refine_click

    models = install(Models.load(tiny_checkpoint, device="cpu"))
    state = SegmentState()
    path = str(next(EXAMPLES_DIR.glob("*.png")))
    state.set_image(path, models)
    prepared = state.prepared(models)
    status = refine_click(models, state, 100, 120, positive=True)
    status2 = refine_click(models, state, 300, 200, positive=False)
    assert "1 positive / 0 negative" in status and "no trained tracker" in status
    assert "1 positive / 1 negative" in status2 and len(state.clicks) == 2
    assert models.require_segmenter().session(prepared.image).encode_count == 1
    canvas = state.canvas(models)
    assert canvas.shape[:2] == (prepared.image.height, prepared.image.width)
    assert tuple(canvas[200, 300]) != tuple(np.asarray(prepared.image)[200, 300])  # the point is drawn
    clear_boxes(state)
    assert state.clicks == []


def test_an_elongated_image_says_it_was_also_seen_in_windows(tiny_checkpoint, tmp_path):
    from demo.segment import SegmentState, segment_json, segment_ui
    from sam3.tiling import windows

    path = tmp_path / "strip.png"
    Image.fromarray(np.random.default_rng(4).integers(0, 255, (60, 300, 3), np.uint8)).save(path)
    models = install(Models.load(tiny_checkpoint, device="cpu"))
    expected = [list(w.box) for w in windows(300, 60)]
    res = segment_ui(models, SegmentState(), str(path), "star", 0.0)
    assert f"also seen in {len(expected)} overlapping windows" in res.status
    assert segment_json(models, str(path), "star", 0.0)["windows"] == expected
    square = tmp_path / "square.png"
    Image.fromarray(np.zeros((80, 80, 3), np.uint8)).save(square)
    assert segment_json(models, str(square), "star", 0.0)["windows"] == []
    assert "windows" not in segment_ui(models, SegmentState(), str(square), "star", 0.0).status
