"""The hot path: encode an image once, answer any number of prompts against it.

`Segmenter` owns a loaded model and a bounded LRU cache of `ImageSession`s keyed by image
content, so an agent's many calls on one image and a user's repeated clicks never
re-encode it. A session also caches text embeddings per phrase, and batches phrases into
one forward pass by indexing the batch-1 vision encoding (it does not broadcast).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from transformers.modeling_outputs import BaseModelOutputWithPooling

from sam3.closer import FLOOR, MAX_CROPS, candidates, closer_scores
from sam3.detections import Detections, boxes_from_masks
from sam3.features import select_vision
from sam3.loading import LoadedSam3, load_sam3
from sam3.postprocess import clean
from sam3.tiling import TILE_ASPECT, Window, cut_by_inner_edge, place, windows

VISUAL_PROMPT = "visual"  # SAM 3's text for a prompt made of exemplar boxes alone
DEFAULT_NMS_IOU = 0.7
DEFAULT_DEDUPE_OVERLAP = 0.8
MAX_ROWS_PER_PASS = 16
EVIDENCE_RATIO = 0.5  # a window's score is capped at the whole image's best for the phrase / this


@dataclass(frozen=True)
class BoxPrompt:
    """An exemplar box, XYXY in pixels of the original image; negative boxes mean "not this"."""

    box: tuple[float, float, float, float]
    positive: bool = True

    def __post_init__(self):
        x0, y0, x1, y1 = self.box
        if not (x1 > x0 and y1 > y0):
            raise ValueError(f"box must have x1 > x0 and y1 > y0, got {self.box}")

    @classmethod
    def parse(cls, text: str) -> BoxPrompt:
        """`x0,y0,x1,y1` or `x0,y0,x1,y1,neg` (pixels of the original image), as typed on a command line or a
        page; `ValueError` with the reason otherwise."""
        parts = [p.strip() for p in text.split(",")]
        sign = parts[4].lower() if len(parts) == 5 else "pos"
        if len(parts) not in (4, 5) or sign not in ("neg", "negative", "0", "-", "pos", "1", "+"):
            raise ValueError(f"a box must be x0,y0,x1,y1[,neg], got {text!r}")
        try:
            coords = tuple(float(p) for p in parts[:4])
        except ValueError:
            raise ValueError(f"box coordinates must be numbers, got {text!r}") from None
        return cls(coords, positive=sign in ("pos", "1", "+"))


@dataclass
class Timing:
    """Milliseconds spent per stage, accumulated over calls."""

    encode_ms: float = 0.0
    text_ms: float = 0.0
    prompt_ms: float = 0.0
    postprocess_ms: float = 0.0
    closer_ms: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 2) for k, v in vars(self).items()}


class _Stopwatch:
    def __init__(self, timing: Timing | None, stage: str):
        self.timing, self.stage = timing, stage

    def __enter__(self):
        self.t0 = time.perf_counter()

    def __exit__(self, *exc):
        if self.timing is not None:
            setattr(
                self.timing,
                self.stage,
                getattr(self.timing, self.stage) + 1e3 * (time.perf_counter() - self.t0),
            )


def upsample_masks(
    logits: torch.Tensor, size: tuple[int, int], threshold: float = 0.5, chunk_pixels: int = 1 << 25
) -> np.ndarray:
    """(N, h, w) mask logits to (N, H, W) bool at the image's size, a few masks at a time.

    Thresholding the logits at logit(threshold) skips a sigmoid over full-size masks, and chunks
    bound the float temporaries (about 128 MB) whatever the image size or number of masks.
    """
    h, w = size
    cut = float(np.log(threshold / (1 - threshold)))
    out = np.empty((len(logits), h, w), bool)
    step = max(1, chunk_pixels // (h * w))
    for i in range(0, len(logits), step):
        up = F.interpolate(
            logits[i : i + step, None].float(), size=(h, w), mode="bilinear", align_corners=False
        )
        out[i : i + step] = (up[:, 0] > cut).cpu().numpy()
    return out


def image_key(image: Image.Image) -> str:
    """Content hash: the same pixels give the same session whatever object or file they came from."""
    arr = np.asarray(image)
    h = hashlib.blake2b(arr.tobytes(), digest_size=16)
    h.update(str(arr.shape).encode())
    return h.hexdigest()


class ImageSession:
    """One image's cached vision encoding and text embeddings. Thread-safe."""

    def __init__(
        self,
        loaded: LoadedSam3,
        image: Image.Image,
        key: str | None = None,
        tile_aspect: float | None = TILE_ASPECT,
    ):
        if image.mode != "RGB":
            raise ValueError(f"image must be RGB, got mode {image.mode!r} (use sam3.image_io.load_image)")
        self.loaded = loaded
        self.image = image
        self.size = (image.height, image.width)
        self.key = key or image_key(image)
        self.tile_aspect = tile_aspect
        self._encodes = 0
        self._vision = None
        self._tile_sessions: list[tuple[Window, ImageSession]] | None = None
        self._text: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._closer: dict[tuple[str, Window, bytes], float] = {}
        self._lock = threading.RLock()

    @property
    def score_threshold(self) -> float:
        """The threshold `segment` uses when given none: the checkpoint's calibrated one."""
        return self.loaded.score_threshold

    @property
    def encode_count(self) -> int:
        """Vision encoder runs for this image, its windows' included."""
        return self._encodes + sum(tile.encode_count for _, tile in self._tile_sessions or ())

    @property
    def closer_crops(self) -> int:
        """Unsure detections looked at closer so far (`sam3.closer`), each once."""
        return len(self._closer)

    @property
    def nbytes(self) -> int:
        tiles = sum(tile.nbytes for _, tile in self._tile_sessions or ())
        if self._vision is None:
            return tiles
        # position encodings depend on the input size only (shared by every image): not counted
        tensors = [self._vision.last_hidden_state, *self._vision.fpn_hidden_states]
        return tiles + sum(t.numel() * t.element_size() for t in tensors if t is not None)

    def vision(self, timing: Timing | None = None):
        with self._lock:
            if self._vision is None:
                with _Stopwatch(timing, "encode_ms"), torch.inference_mode():
                    pixels = self.loaded.processor.image_processor(
                        self.image, return_tensors="pt"
                    ).pixel_values
                    pixels = pixels.to(self.loaded.device, self.loaded.dtype)
                    self._vision = self.loaded.model.get_vision_features(pixel_values=pixels)
                    self._encodes += 1
            return self._vision

    def text_embeddings(
        self, phrases: list[str], timing: Timing | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        with self._lock, _Stopwatch(timing, "text_ms"):
            missing = sorted({p for p in phrases if p not in self._text})
            if missing:
                tok = self.loaded.processor.tokenizer(
                    missing, padding="max_length", max_length=32, truncation=True, return_tensors="pt"
                ).to(self.loaded.device)
                with torch.inference_mode():
                    emb = self.loaded.model.get_text_features(
                        input_ids=tok.input_ids, attention_mask=tok.attention_mask
                    )
                for i, p in enumerate(missing):
                    self._text[p] = (emb.pooler_output[i], tok.attention_mask[i])
            feats = torch.stack([self._text[p][0] for p in phrases])
            mask = torch.stack([self._text[p][1] for p in phrases])
        return feats, mask

    def _boxes(self, boxes: Sequence[BoxPrompt], rows: int) -> dict[str, torch.Tensor]:
        if not boxes:
            return {}
        h, w = self.size
        enc = self.loaded.processor(
            original_sizes=[[h, w]],
            input_boxes=[[list(map(float, b.box)) for b in boxes]],
            input_boxes_labels=[[int(b.positive) for b in boxes]],
            return_tensors="pt",
        )
        return {
            "input_boxes": enc["input_boxes"].to(self.loaded.device, self.loaded.dtype).expand(rows, -1, -1),
            "input_boxes_labels": enc["input_boxes_labels"].to(self.loaded.device).expand(rows, -1),
        }

    def segment(
        self,
        phrases: str | Sequence[str] = (),
        boxes: Sequence[BoxPrompt] = (),
        threshold: float | None = None,
        nms_iou: float | None = DEFAULT_NMS_IOU,
        dedupe_overlap: float | None = DEFAULT_DEDUPE_OVERLAP,
        mask_threshold: float | None = None,
        timing: Timing | None = None,
        look_closer: bool | None = None,
        closer_below: float | None = None,
    ) -> Detections:
        """Every instance of each phrase (with the exemplar boxes, if any), as one `Detections`.

        With boxes and no phrase, the boxes alone are the prompt. Scores are
        sigmoid(query logit) x sigmoid(presence logit); masks are at the image's full size.
        `threshold` and `mask_threshold` default to the checkpoint's calibrated ones (`LoadedSam3`).
        On an elongated image, text prompts are also answered in overlapping windows (`sam3.tiling`).
        With `look_closer` (default: the checkpoint's, `LoadedSam3.look_closer`), text detections scoring
        between `sam3.closer.FLOOR` and `closer_below` (default: `threshold`) are scored again on a zoomed
        crop and keep the higher score.
        """
        threshold = self.score_threshold if threshold is None else threshold
        phrases = [phrases] if isinstance(phrases, str) else list(phrases)
        phrases = [" ".join(p.split()) for p in phrases]
        if any(not p for p in phrases):
            raise ValueError("empty phrase: give a short noun phrase such as 'red apple'")
        if not phrases and not boxes:
            raise ValueError("nothing to segment: give at least one phrase or one exemplar box")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        closer = (self.loaded.look_closer if look_closer is None else look_closer) and not boxes
        mask_threshold = self.loaded.mask_threshold if mask_threshold is None else mask_threshold
        floor = min(threshold, FLOOR) if closer else threshold
        phrases = phrases or [VISUAL_PROMPT]
        det, evidence = self._detect(phrases, boxes, floor, mask_threshold, timing)
        parts = [det]
        # a window cannot lift a phrase above the whole image's evidence / EVIDENCE_RATIO: skip those it can't
        hopeful = [p for p in phrases if evidence[p] / EVIDENCE_RATIO > floor]
        if hopeful:
            parts += [
                self._window_detections(window, tile, hopeful, evidence, floor, mask_threshold, timing)
                for window, tile in self._tiles(boxes)
            ]
        with _Stopwatch(timing, "postprocess_ms"):
            det = Detections.merge(parts, image_size=self.size)
            det = clean(det, score_threshold=None, nms_iou=nms_iou, dedupe_overlap=dedupe_overlap)
        if closer:
            with _Stopwatch(timing, "closer_ms"):
                det = self._look_closer(det, threshold if closer_below is None else closer_below)
        return det[det.scores > threshold]

    def _look_closer(self, det: Detections, below: float) -> Detections:
        """Each unsure detection (FLOOR <= score <= `below`) at the higher of its score and its crop's."""
        unsure = np.flatnonzero((det.scores >= FLOOR) & (det.scores <= below))
        unsure = unsure[np.argsort(-det.scores[unsure], kind="stable")][:MAX_CROPS]
        if not len(unsure):
            return det
        cands = candidates(det, unsure)
        with self._lock:
            todo = list({c.key: c for c in cands if c.key not in self._closer}.values())
            for c, z in zip(todo, closer_scores(self, todo)):
                self._closer[c.key] = float(z)
            seen = np.array([self._closer[c.key] for c in cands], np.float32)
        scores = det.scores.copy()
        scores[unsure] = np.maximum(scores[unsure], seen)
        return replace(det, scores=scores).sort_by_score()

    @property
    def windows_seen(self) -> list[Window]:
        """The windows this image has been looked at in so far: none unless it is elongated and a phrase
        could gain from them (see `segment`); each is encoded once and kept like the whole image."""
        return [w for w, tile in self._tile_sessions or () if tile.encode_count]

    def _tiles(self, boxes: Sequence[BoxPrompt] = ()) -> list[tuple[Window, ImageSession]]:
        if boxes:  # exemplar boxes are in whole-image pixels and may lie outside a window
            return []
        with self._lock:
            if self._tile_sessions is None:
                self._tile_sessions = [
                    (w, ImageSession(self.loaded, self.image.crop(w.box), f"{self.key}:{w.box}", tile_aspect=None))
                    for w in windows(self.image.width, self.image.height, self.tile_aspect)
                ]
            return self._tile_sessions

    def _window_detections(
        self,
        window: Window,
        tile: ImageSession,
        phrases: list[str],
        evidence: dict[str, float],
        threshold: float,
        mask_threshold: float,
        timing: Timing | None,
    ) -> Detections:
        """A window's detections, whole objects only, none more confident than the whole image allows.

        A window sees less context than the whole image, so on its own it finds absent concepts more
        often; capping its scores at the phrase's best whole-image score / `EVIDENCE_RATIO` keeps nearly
        every absent phrase empty (ShapesWorld held-out: one in ~110 more) while recovering what the
        squeezed whole image scored below threshold. The cap is a score, so thresholding after it is exact.
        """
        det, _ = tile._detect(phrases, (), threshold, mask_threshold, timing)
        with _Stopwatch(timing, "postprocess_ms"):
            det = place(det[~cut_by_inner_edge(det, window, self.size)], window, self.size)
            cap = np.array([evidence[p] / EVIDENCE_RATIO for p in det.phrases], np.float32)
            det = replace(det, scores=np.minimum(det.scores, cap))
            return det[det.scores > threshold]

    def _detect(
        self,
        phrases: list[str],
        boxes: Sequence[BoxPrompt],
        threshold: float,
        mask_threshold: float,
        timing: Timing | None,
    ) -> tuple[Detections, dict[str, float]]:
        """Raw detections above `threshold`, and each phrase's best score at any threshold."""
        vision = self.vision(timing)
        parts, evidence = [], {}
        for start in range(0, len(phrases), MAX_ROWS_PER_PASS):
            chunk = phrases[start : start + MAX_ROWS_PER_PASS]
            feats, mask = self.text_embeddings(chunk, timing)
            with _Stopwatch(timing, "prompt_ms"), torch.inference_mode():
                out = self.loaded.model(
                    vision_embeds=select_vision(vision, torch.zeros(len(chunk), dtype=torch.long)),
                    text_embeds=BaseModelOutputWithPooling(pooler_output=feats),
                    attention_mask=mask,
                    **self._boxes(boxes, len(chunk)),
                )
            with _Stopwatch(timing, "postprocess_ms"):
                scores = (out.pred_logits.float().sigmoid() * out.presence_logits.float().sigmoid()).cpu()
                evidence.update(zip(chunk, scores.amax(dim=1).tolist()))
                parts.append(self._to_detections(out, scores, chunk, threshold, mask_threshold))
        return Detections.merge(parts, image_size=self.size), evidence

    def _to_detections(
        self, out, scores: torch.Tensor, phrases: list[str], threshold: float, mask_threshold: float
    ) -> Detections:
        h, w = self.size
        keep = scores > threshold
        rows, queries = torch.nonzero(keep, as_tuple=True)
        if len(rows) == 0:
            return Detections.empty(self.size)
        order = torch.argsort(scores[rows, queries], descending=True)
        rows, queries = rows[order], queries[order]
        logits = out.pred_masks[rows.to(out.pred_masks.device), queries.to(out.pred_masks.device)]
        masks = upsample_masks(logits, (h, w), mask_threshold)
        boxes = out.pred_boxes[rows, queries].float().cpu().numpy() * np.array([w, h, w, h], np.float32)
        # The box head and the mask head are separate: report the box of the mask we return, so the
        # two never disagree, and keep the predicted box only where the mask came out empty.
        mask_boxes = boxes_from_masks(masks)
        boxes = np.where(masks.any(axis=(1, 2))[:, None], mask_boxes, boxes.clip(0, [w, h, w, h]))
        return Detections(
            masks=masks,
            boxes=boxes.astype(np.float32),
            scores=scores[rows, queries].numpy().astype(np.float32),
            phrases=[phrases[r] for r in rows.tolist()],
            image_size=self.size,
        )


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    encoder_calls: int = 0
    sessions: int = 0
    nbytes: int = 0


class Segmenter:
    """A loaded SAM 3 and a bounded LRU of image sessions (by count and by feature bytes)."""

    def __init__(
        self,
        loaded: LoadedSam3,
        max_sessions: int = 8,
        max_bytes: int = 2 << 30,
        tile_aspect: float | None = TILE_ASPECT,
    ):
        self.loaded = loaded
        self.tile_aspect = tile_aspect
        self.max_sessions = max_sessions
        self.max_bytes = max_bytes
        self._sessions: OrderedDict[str, ImageSession] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = CacheStats()
        self._encoder_calls_evicted = 0

    @classmethod
    def load(cls, model: str | None = None, device=None, dtype=None, **kwargs) -> Segmenter:
        return cls(load_sam3(model, device=device, dtype=dtype), **kwargs)

    def session(self, image: Image.Image, namespace: str = "") -> ImageSession:
        """The image's session, encoding it on first use. Sessions are shared by content; a `namespace` (a
        visitor of a public app) gets its own, so nobody can tell from timings what others looked at."""
        key = f"{namespace}:{image_key(image)}" if namespace else image_key(image)
        with self._lock:
            if key in self._sessions:
                self._sessions.move_to_end(key)
                self.stats.hits += 1
                return self._sessions[key]
            self.stats.misses += 1
            session = ImageSession(self.loaded, image, key, self.tile_aspect)
            self._sessions[key] = session
            self._evict(keep=key)
            return session

    def segment(self, image: Image.Image, phrases: str | Sequence[str] = (), **kwargs) -> Detections:
        det = self.session(image).segment(phrases, **kwargs)
        with self._lock:
            self._evict()
        return det

    def _evict(self, keep: str | None = None) -> None:
        total = sum(s.nbytes for s in self._sessions.values())
        while len(self._sessions) > 1 and (len(self._sessions) > self.max_sessions or total > self.max_bytes):
            oldest = next(iter(self._sessions))
            if oldest == keep:
                break
            gone = self._sessions.pop(oldest)
            total -= gone.nbytes
            self._encoder_calls_evicted += gone.encode_count
            self.stats.evictions += 1

    def cache_stats(self) -> CacheStats:
        with self._lock:
            live = list(self._sessions.values())
            self.stats.sessions = len(live)
            self.stats.nbytes = sum(s.nbytes for s in live)
            self.stats.encoder_calls = self._encoder_calls_evicted + sum(s.encode_count for s in live)
            return CacheStats(**vars(self.stats))


__all__ = ["BoxPrompt", "CacheStats", "ImageSession", "Segmenter", "Timing", "image_key"]
