"""A container of segmentation results that every layer (model wrapper, post-processing, CLI, app) shares.

Parallel arrays rather than a list of per-object records, so filtering, sorting and merging stay vectorised
and a result can be sliced like a numpy array. Masks travel as COCO RLE when serialised, because raw
(N, H, W) bool masks are far too big for JSON and RLE is what every COCO tool reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

# Anything numpy accepts as a 1-D selection along the detection axis.
Index = int | slice | np.ndarray | Sequence[int] | Sequence[bool]

# JSON carries scores and boxes for people and downstream tools, not for bit-exact reloads: 4 decimals
# resolves any score threshold anyone sets, 2 decimals is far below a pixel.
_SCORE_DECIMALS = 4
_BOX_DECIMALS = 2


def boxes_from_masks(masks: np.ndarray) -> np.ndarray:
    """Tight XYXY boxes, so callers never need a model box that may disagree with the mask.

    x1/y1 are exclusive (max index + 1), matching pycocotools' ``toBbox``; empty masks get an all-zero box.
    """
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(f"masks must have shape (N, H, W), got {masks.shape}")
    masks = masks.astype(bool, copy=False)
    n, height, width = masks.shape
    rows = masks.any(axis=2)  # (N, H)
    cols = masks.any(axis=1)  # (N, W)
    boxes = np.stack(
        [
            cols.argmax(axis=1),
            rows.argmax(axis=1),
            width - cols[:, ::-1].argmax(axis=1),
            height - rows[:, ::-1].argmax(axis=1),
        ],
        axis=1,
    ).astype(np.float32)
    boxes[~rows.any(axis=1)] = 0.0
    return boxes.reshape(n, 4)


def _image_size(size: Any) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"image_size must be (H, W), got {size!r}") from None
    if height <= 0 or width <= 0:
        raise ValueError(f"image_size must be positive, got {(height, width)}")
    return height, width


def _normalise_rle(rle: Any, index: int) -> dict:
    """Bring every RLE flavour (str/bytes counts, uncompressed list counts) to pycocotools' compressed form."""
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise ValueError(f"RLE {index} must be a dict with 'size' and 'counts', got {rle!r:.80}")
    height, width = _image_size(rle["size"])
    counts = rle["counts"]
    if isinstance(counts, list):
        if sum(counts) != height * width:
            raise ValueError(f"RLE {index}: uncompressed counts sum to {sum(counts)}, expected {height * width}")
        return mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    if isinstance(counts, bytes):
        return {"size": [height, width], "counts": counts}
    # Malformed serialised input is a bad value, not a programming error: callers catch ValueError.
    raise ValueError(f"RLE {index}: counts must be str, bytes or list, got {type(counts).__name__}")


MaskSet = np.ndarray | Sequence[dict]


def _rles(masks: MaskSet) -> list[dict]:
    if isinstance(masks, np.ndarray):
        if masks.ndim != 3:
            raise ValueError(f"masks must have shape (N, H, W), got {masks.shape}")
        if not len(masks):
            return []
        return mask_utils.encode(np.asfortranarray(masks.astype(np.uint8, copy=False).transpose(1, 2, 0)))
    return [_normalise_rle(r, i) for i, r in enumerate(masks)]


def mask_iou(a: MaskSet, b: MaskSet) -> np.ndarray:
    """(len(a), len(b)) mask IoU of two mask sets, each (N, H, W) bool or a list of COCO RLE.

    Computed on RLE by pycocotools, which skips pairs whose boxes do not overlap and works on runs, not
    pixels: for a few hundred full-HD masks, orders of magnitude faster than dense arithmetic.
    """
    ra, rb = _rles(a), _rles(b)
    if not ra or not rb:
        return np.zeros((len(ra), len(rb)))
    return np.asarray(mask_utils.iou(ra, rb, [0] * len(rb)), dtype=np.float64).reshape(len(ra), len(rb))


@dataclass(eq=False, repr=False)
class Detections:
    """N detections of one image; every field is indexed by detection along its first axis."""

    masks: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    phrases: list[str]
    image_size: tuple[int, int]
    data: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.image_size = _image_size(self.image_size)

        masks = np.asarray(self.masks)
        if masks.ndim != 3 or masks.shape[1:] != self.image_size:
            raise ValueError(f"masks must have shape (N, {self.image_size[0]}, {self.image_size[1]}), "
                             f"got {masks.shape}")
        if masks.dtype != bool:
            # 0/1 or 0/255 integer masks are unambiguous; float masks are probabilities that need a threshold.
            if not np.issubdtype(masks.dtype, np.integer):
                raise ValueError(f"masks must be bool or integer, got {masks.dtype} (threshold probabilities first)")
            masks = masks != 0
        # C order lets RLE encoding and per-mask filters read each mask in place (no-op when already so).
        self.masks = np.ascontiguousarray(masks)
        n = len(masks)

        boxes = np.asarray(self.boxes, dtype=np.float32)
        if boxes.size == 0 and n == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.shape != (n, 4):
            raise ValueError(f"boxes must have shape ({n}, 4), got {boxes.shape}")
        if not np.isfinite(boxes).all():
            raise ValueError("boxes must be finite")
        self.boxes = boxes

        scores = np.asarray(self.scores, dtype=np.float32)
        if scores.shape != (n,):
            raise ValueError(f"scores must have shape ({n},), got {scores.shape}")
        self.scores = scores

        if not isinstance(self.phrases, (list, tuple)) or len(self.phrases) != n:
            raise ValueError(f"phrases must be a list of {n} strings, got {self.phrases!r:.80}")
        self.phrases = list(self.phrases)
        if not all(isinstance(p, str) for p in self.phrases):
            raise ValueError("phrases must all be strings")

        data = {}
        for key, value in self.data.items():
            value = np.asarray(value)
            if value.ndim == 0 or len(value) != n:
                raise ValueError(f"data[{key!r}] must have length {n} along its first axis, got shape {value.shape}")
            data[key] = value
        self.data = data

    @classmethod
    def empty(cls, image_size: tuple[int, int]) -> Detections:
        height, width = _image_size(image_size)
        return cls(
            masks=np.zeros((0, height, width), dtype=bool),
            boxes=np.zeros((0, 4), dtype=np.float32),
            scores=np.zeros(0, dtype=np.float32),
            phrases=[],
            image_size=(height, width),
        )

    def __len__(self) -> int:
        return len(self.masks)

    def __repr__(self) -> str:
        return f"Detections(n={len(self)}, image_size={self.image_size}, phrases={sorted(set(self.phrases))})"

    def __getitem__(self, index: Index) -> Detections:
        """Select like numpy; an int keeps the result a (length-1) Detections so callers never special-case it."""
        if isinstance(index, (bool, np.bool_)):
            raise TypeError("a scalar bool is not a valid detection index")
        if isinstance(index, (list, tuple, np.ndarray)):
            index = np.asarray(index)
            if index.size == 0:
                index = index.astype(np.intp)  # [] parses as float64
            if not (index.dtype == bool or np.issubdtype(index.dtype, np.integer)):
                raise TypeError(f"index arrays must be bool or integer, got {index.dtype}")
        picked = np.atleast_1d(np.arange(len(self))[index])
        if picked.ndim != 1:
            raise TypeError(f"index must select along one axis, got {index!r:.80}")
        return Detections(
            masks=self.masks[picked],
            boxes=self.boxes[picked],
            scores=self.scores[picked],
            phrases=[self.phrases[i] for i in picked],
            image_size=self.image_size,
            data={key: value[picked] for key, value in self.data.items()},
        )

    @classmethod
    def merge(cls, detections: Sequence[Detections], *, image_size: tuple[int, int] | None = None) -> Detections:
        """Concatenate per-prompt results of one image; image_size is needed only to merge an empty list."""
        if not detections:
            if image_size is None:
                raise ValueError("cannot merge an empty list without image_size")
            return cls.empty(image_size)
        size = _image_size(image_size) if image_size is not None else detections[0].image_size
        for det in detections:
            if det.image_size != size:
                raise ValueError(f"cannot merge detections of different image sizes: {det.image_size} != {size}")
        # Empty parts carry no data, so they must not veto the data keys of the others.
        parts = [det for det in detections if len(det)]
        if not parts:
            return cls.empty(size)
        keys = set(parts[0].data)
        for det in parts[1:]:
            if set(det.data) != keys:
                raise ValueError(
                    f"cannot merge detections with different data keys: {sorted(det.data)} != {sorted(keys)}"
                )
        return cls(
            masks=np.concatenate([det.masks for det in parts]),
            boxes=np.concatenate([det.boxes for det in parts]),
            scores=np.concatenate([det.scores for det in parts]),
            phrases=[p for det in parts for p in det.phrases],
            image_size=size,
            data={key: np.concatenate([det.data[key] for det in parts]) for key in keys},
        )

    def sort_by_score(self, descending: bool = True) -> Detections:
        # Stable, so equal scores keep their input (e.g. prompt) order.
        order = np.argsort(-self.scores if descending else self.scores, kind="stable")
        return self[order]

    def filter(self, min_score: float) -> Detections:
        """Keep detections scoring at least ``min_score`` (inclusive, like SAM 3's own threshold)."""
        return self[self.scores >= min_score]

    def with_phrase(self, phrase: str) -> Detections:
        return self[np.array([p == phrase for p in self.phrases], dtype=bool)]

    @property
    def areas(self) -> np.ndarray:
        """Mask pixel counts (int64); the box area overstates thin or diagonal objects."""
        return self.masks.sum(axis=(1, 2), dtype=np.int64)

    def to_rle(self) -> list[dict[str, Any]]:
        """Compressed COCO RLEs with str counts, so the result goes straight into json.dumps."""
        if not len(self):
            return []
        # pycocotools reads each mask column-major from an (H, W, N) Fortran array.
        rles = mask_utils.encode(np.asfortranarray(self.masks.transpose(1, 2, 0).view(np.uint8)))
        return [{"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")} for rle in rles]

    @classmethod
    def from_rle(
        cls,
        rles: Sequence[dict[str, Any]],
        scores: Sequence[float] | np.ndarray,
        phrases: Sequence[str],
        *,
        boxes: np.ndarray | None = None,
        image_size: tuple[int, int] | None = None,
    ) -> Detections:
        """Inverse of ``to_rle``; boxes are recomputed from the masks unless given."""
        normalised = [_normalise_rle(rle, i) for i, rle in enumerate(rles)]
        sizes = {tuple(rle["size"]) for rle in normalised}
        if image_size is not None:
            sizes.add(_image_size(image_size))
        if len(sizes) != 1:
            raise ValueError("RLEs need one common size (and image_size is required when rles is empty), "
                             f"got {sorted(sizes)}")
        size = sizes.pop()
        if not normalised:
            masks = np.zeros((0, *size), dtype=bool)
        else:
            masks = mask_utils.decode(normalised).transpose(2, 0, 1).astype(bool, order="C")
        if boxes is None:
            xywh = mask_utils.toBbox(normalised).reshape(-1, 4) if normalised else np.zeros((0, 4))
            boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        return cls(masks=masks, boxes=boxes, scores=scores, phrases=list(phrases), image_size=size)

    def to_json_list(self) -> list[dict[str, Any]]:
        """One plain-python dict per detection (``data`` is not included: it has no fixed JSON form)."""
        return [
            {
                "phrase": phrase,
                "score": round(float(score), _SCORE_DECIMALS),
                "box": [round(float(v), _BOX_DECIMALS) for v in box],
                "mask": rle,
            }
            for phrase, score, box, rle in zip(self.phrases, self.scores, self.boxes, self.to_rle(), strict=True)
        ]

    @classmethod
    def from_json_list(cls, items: Sequence[dict[str, Any]], image_size: tuple[int, int]) -> Detections:
        missing = [(i, key) for i, item in enumerate(items) for key in ("phrase", "score", "box", "mask")
                   if not isinstance(item, dict) or key not in item]
        if missing:
            i, key = missing[0]
            raise ValueError(f"detection {i} is missing {key!r}")
        return cls.from_rle(
            [item["mask"] for item in items],
            scores=[item["score"] for item in items],
            phrases=[item["phrase"] for item in items],
            boxes=np.array([item["box"] for item in items], dtype=np.float32).reshape(-1, 4),
            image_size=image_size,
        )
