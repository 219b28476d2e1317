"""gIoU / cIoU bookkeeping and the ReasonSeg / RefCOCO loaders on small hand-made files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from benchmarks.datasets import load_reasonseg, load_refcoco
from benchmarks.referring_metrics import ReferringScores


def test_giou_and_ciou():
    s = ReferringScores()
    a = np.zeros((10, 10), bool)
    a[:5] = True  # 50 px
    b = np.zeros((10, 10), bool)
    b[:, :5] = True  # 50 px, 25 shared
    assert s.add(a, b, "x") == pytest.approx(25 / 75)
    assert s.add(np.zeros((10, 10), bool), np.zeros((10, 10), bool), "empty") == 1.0
    big = np.ones((10, 10), bool)
    assert s.add(big, big, "x") == 1.0
    t = s.table()
    assert t["x"]["gIoU"] == pytest.approx((25 / 75 + 1) / 2)
    assert t["x"]["cIoU"] == pytest.approx((25 + 100) / (75 + 100))
    assert t["all"]["n"] == 3 and t["empty"]["gIoU"] == 1.0


def test_ignore_pixels_count_for_nothing():
    s = ReferringScores()
    pred = np.zeros((4, 4), bool)
    pred[0] = True
    gt = np.zeros((4, 4), bool)
    ignore = np.zeros((4, 4), bool)
    ignore[0] = True
    assert s.add(pred, gt, ignore=ignore) == 1.0
    with pytest.raises(ValueError, match="differ in size"):
        s.add(pred, np.zeros((3, 3), bool))


def test_reasonseg_loader(tmp_path):
    Image.new("RGB", (40, 30)).save(tmp_path / "a.jpg")
    (tmp_path / "a.json").write_text(
        json.dumps(
            {
                "text": ["the thing people sit on"],
                "is_sentence": True,
                "shapes": [
                    {"label": "target", "points": [[0, 0], [19, 0], [19, 9], [0, 9]]},
                    {"label": "ignore", "points": [[30, 20], [39, 20], [39, 29], [30, 29]]},
                ],
            }
        )
    )
    Image.new("RGB", (8, 8)).save(tmp_path / "no_annotation.png")
    (sample,) = list(load_reasonseg(tmp_path))
    assert sample.query == "the thing people sit on" and sample.kind == "sentence"
    assert sample.mask.shape == (30, 40) and sample.mask[:10, :20].all() and sample.mask.sum() == 200
    assert sample.ignore[25, 35] and not sample.ignore[0, 0]


def test_refcoco_loader_reads_json_never_pickle(tmp_path):
    rle = mask_utils.encode(np.asfortranarray(np.pad(np.ones((5, 5), np.uint8), ((0, 15), (0, 5)))))
    rle["counts"] = rle["counts"].decode()
    (tmp_path / "instances.json").write_text(
        json.dumps(
            {
                "images": [{"id": 7, "file_name": "x.jpg", "height": 20, "width": 10}],
                "annotations": [
                    {"id": 3, "image_id": 7, "segmentation": [[0, 0, 4, 0, 4, 4, 0, 4]]},
                    {"id": 4, "image_id": 7, "segmentation": rle},
                ],
            }
        )
    )
    (tmp_path / "refs.json").write_text(
        json.dumps(
            [
                {
                    "ref_id": 1,
                    "ann_id": 3,
                    "image_id": 7,
                    "split": "val",
                    "sentences": [{"sent": "left box"}],
                },
                {
                    "ref_id": 2,
                    "ann_id": 4,
                    "image_id": 7,
                    "split": "val",
                    "sentences": [{"sent": "a"}, {"sent": "b"}],
                },
                {"ref_id": 3, "ann_id": 4, "image_id": 7, "split": "train", "sentences": [{"sent": "c"}]},
            ]
        )
    )
    samples = list(load_refcoco(tmp_path / "instances.json", tmp_path / "refs.json", tmp_path))
    assert [s.query for s in samples] == ["left box", "a", "b"]
    assert samples[0].mask.shape == (20, 10) and samples[0].mask[2, 2]
    assert samples[1].mask.sum() == 25
