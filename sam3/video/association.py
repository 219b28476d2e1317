"""Association mode: SAM 3's detector on every frame, identities carried by matching detections to tracks.

For checkpoints that cannot host SAM 3's video tracker. Without the tracker's memory a half-hidden object
scores low and a hidden one is not detected at all, so each track keeps what it takes to find it again:
its last mask, its motion (measured on frames where it was seen whole), its size when whole and its
colour. Each frame, for each phrase, in the manner of ByteTrack:

1. confident detections (score >= `threshold`) are matched to live and lost tracks, each expected where
   its motion carries it: its last mask moved there must overlap the detection (a track lost for more
   than `recent` frames: lie near it) and the colours must agree;
2. unsure detections (`low_threshold` <= score < `threshold`: a half-hidden object) may only continue a
   track seen in the last `recent` frames, where they overlap its expected mask in its colour;
3. confident detections still unmatched re-identify a lost track of their colour and size wherever they
   appear (back from behind another object or from outside the picture), else start a new track from
   `new_object_threshold`.

Memory stays flat: a track is one RLE mask and a few numbers, a lost track is dropped after `max_lost`
frames (the agent's seeds are kept for the whole clip), and at most `max_tracks` are kept.
The values and how they were chosen: docs/video.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils
from scipy.optimize import linear_sum_assignment

from sam3.detections import Detections, mask_iou
from sam3.loading import LoadedSam3
from sam3.video.inputs import check_frame, check_unit, clean_prompts
from sam3.video.results import FrameResult

# Default thresholds as fractions of the score that starts a track (the checkpoint's calibrated one).
KEEP_FRACTION = 0.5  # a confident detection, matched to any track
LOW_FRACTION = 0.07  # an unsure one, which may only continue a track seen just before
MIN_SIZE = 12.0  # pixels: the smallest size a track's distances are measured in


@dataclass(frozen=True)
class AssociationConfig:
    """How detections are matched to tracks; distances are in units of a track's size (the square root
    of its area when seen whole), colours in CIELAB Delta E."""

    min_iou: float = 0.3  # a recent track's expected mask overlaps a detection at least this much ...
    contain: float = 0.6  # ... or one holds this share of the other (a half-hidden object is a part of its mask)
    recent: int = 3  # frames since last seen for a track to be continued by overlap and unsure detections
    gate: float = 0.6  # how far from where a lost track is expected it may be found, at first ...
    gate_growth: float = 0.1  # ... and more each frame it stays lost
    colour_max: float = 30.0  # colour change allowed between a track and a detection continuing it
    reid_colour: float = 15.0  # colour change allowed to re-identify a lost track anywhere ...
    reid_near: float = 3.0  # ... or a track seen just before, this near
    size_max: float = 2.5  # a lost track's detection at most this many times its whole area (it may show less)
    whole: float = 0.75  # a mask this share of the track's whole area counts as whole (motion measured)
    max_lost: int = 50  # frames a lost track is kept
    max_tracks: int = 64  # tracks kept at most (the longest lost go first)


@dataclass
class Track:
    """One object: its mask, centroid (x, y) and area when last seen, at position `seen`."""

    id: int
    phrase: str
    rle: dict
    centre: np.ndarray
    area: float
    whole_area: float
    colour: np.ndarray | None
    score: float
    seen: int
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    moving: bool = False  # velocity measured
    was_whole: bool = True
    seed: bool = False

    @property
    def size(self) -> float:
        """Square root of its whole area, at least MIN_SIZE pixels (a sliver at the edge says little)."""
        return float(max(np.sqrt(self.whole_area), MIN_SIZE))


@dataclass
class _Observations:
    """One phrase's detections on a frame: masks as RLE, areas, centroids, colours, scores."""

    rows: np.ndarray
    rles: list[dict]
    areas: np.ndarray
    centres: np.ndarray
    colours: list[np.ndarray | None]
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)


def association_thresholds(
    calibrated: float,
    threshold: float | None = None,
    new_object_threshold: float | None = None,
    low_threshold: float | None = None,
) -> tuple[float, float, float]:
    """(low, keep, start) scores for association mode; defaults from the checkpoint's `calibrated` one."""
    check_unit("threshold", threshold)
    check_unit("new_object_threshold", new_object_threshold)
    check_unit("low_threshold", low_threshold)
    if new_object_threshold is None:
        new_object_threshold = max(calibrated, threshold or 0.0)
    if threshold is None:
        threshold = new_object_threshold * KEEP_FRACTION
    if threshold > new_object_threshold:
        raise ValueError(
            f"threshold ({threshold}) keeps tracks and must not exceed "
            f"new_object_threshold ({new_object_threshold}), which starts them"
        )
    if low_threshold is None:
        low_threshold = min(threshold, new_object_threshold * LOW_FRACTION)
    if low_threshold > threshold:
        raise ValueError(
            f"low_threshold ({low_threshold}) continues tracks seen just before and must not exceed "
            f"threshold ({threshold})"
        )
    return low_threshold, threshold, new_object_threshold


def lab_image(image: np.ndarray) -> np.ndarray:
    """RGB uint8 as CIELAB float32 (L 0-100), where distances are perceived colour differences."""
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def mask_colour(lab: np.ndarray, mask: np.ndarray, min_pixels: int = 16) -> np.ndarray | None:
    """Median CIELAB colour of `mask`'s inner pixels (its edge is blended with what is behind), or None
    when fewer than `min_pixels` are inner: a sliver's colour says nothing."""
    ys, xs = np.nonzero(mask)
    if len(ys) < min_pixels:
        return None
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    crop = np.pad(mask[y0:y1, x0:x1], 1).astype(np.uint8)
    inner = cv2.erode(crop, np.ones((3, 3), np.uint8))[1:-1, 1:-1].astype(bool)
    if inner.sum() < min_pixels:
        return None
    return np.median(lab[y0:y1, x0:x1][inner], axis=0)


def _colour_distance(a: np.ndarray | None, b: np.ndarray | None) -> float:
    return 0.0 if a is None or b is None else float(np.linalg.norm(a - b))


def _centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()]) if len(xs) else np.zeros(2)


def _decode(rle: dict) -> np.ndarray:
    return mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode("ascii")}).astype(bool)


def _encode(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}


def _shifted(rle: dict, offset: np.ndarray) -> dict:
    """The mask moved by `offset` (x, y) pixels, rounded; what leaves the picture is cut."""
    dx, dy = (int(round(v)) for v in offset)
    if dx == 0 and dy == 0:
        return rle
    mask = _decode(rle)
    h, w = mask.shape
    out = np.zeros_like(mask)
    if abs(dx) < w and abs(dy) < h:
        out[max(0, dy) : h + min(0, dy), max(0, dx) : w + min(0, dx)] = mask[
            max(0, -dy) : h + min(0, -dy), max(0, -dx) : w + min(0, -dx)
        ]
    return _encode(out)


def _overlaps(obs: _Observations, rles: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """IoU of each observation with each mask, and the share of the smaller of the two they have in common."""
    iou = mask_iou(obs.rles, rles)
    areas = mask_utils.area([{"size": r["size"], "counts": r["counts"].encode("ascii")} for r in rles]).astype(float)
    inter = iou * (obs.areas[:, None] + areas[None, :]) / (1.0 + iou)
    return iou, inter / np.maximum(np.minimum(obs.areas[:, None], areas[None, :]), 1.0)


def _match(similarity: np.ndarray, allowed: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (row, column) maximising total similarity among the allowed ones."""
    if not allowed.any():
        return []
    cost = np.where(allowed, -similarity, 1e6)
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]


class AssociationTracker:
    """The detector on every frame; detections matched to tracks that survive occlusion (module docstring).

    Thresholds, as SAM 3's video model has two and ByteTrack a third: a detection that starts a new track
    needs `new_object_threshold` (default: the checkpoint's calibrated score, or `threshold` if that is
    higher); one that continues any track, also one lost a while, `threshold` (default: KEEP_FRACTION
    of it); one that continues a track seen in the last frames, where it is expected, `low_threshold`
    (default: LOW_FRACTION of it).

    `seeds` start the tracker with known objects (id, phrase, RLE on the frame before the first one
    stepped, score), drawn on `seed_image` when given (their colours); seeds are never dropped. With
    `spawn=False` nothing else is ever tracked, so only the seeds are followed (the agent's selection).
    """

    def __init__(
        self,
        detector: LoadedSam3,
        prompts: str | Sequence[str],
        video_size: tuple[int, int] | None = None,
        threshold: float | None = None,
        new_object_threshold: float | None = None,
        low_threshold: float | None = None,
        max_objects: int | None = None,
        seeds: Sequence[tuple[int, str, dict, float]] = (),
        seed_image: np.ndarray | None = None,
        spawn: bool = True,
        config: AssociationConfig | None = None,
    ):
        self.low_threshold, self.threshold, self.new_object_threshold = association_thresholds(
            detector.score_threshold, threshold, new_object_threshold, low_threshold
        )
        self.detector = detector
        self.prompts = clean_prompts(prompts)
        self.size = tuple(video_size) if video_size else None
        self.max_objects = max_objects
        self.config = config or AssociationConfig()
        self.spawn = spawn
        self.position = 0
        lab = lab_image(seed_image) if seed_image is not None else None
        self.tracks: dict[int, Track] = {}
        for oid, phrase, rle, score in seeds:
            mask = _decode(rle)
            area = float(mask.sum())
            colour = mask_colour(lab, mask) if lab is not None else None
            self.tracks[oid] = Track(
                oid, phrase, rle, _centroid(mask), area, area, colour, float(score), seen=-1, seed=True
            )
        self.next_id = max(self.tracks, default=-1) + 1
        self.object_phrases: dict[int, str] = {t.id: t.phrase for t in self.tracks.values()}

    # -- frames --------------------------------------------------------------------------------
    def detect(self, image: np.ndarray) -> Detections:
        """Every detection of the prompts from `low_threshold` on (looking closer, if the checkpoint
        does, up to the start threshold, where its calibration holds)."""
        from sam3.session import ImageSession

        return ImageSession(self.detector, Image.fromarray(image)).segment(
            self.prompts, threshold=self.low_threshold, closer_below=self.new_object_threshold
        )

    def step(
        self, image: np.ndarray, index: int | None = None, detections: Detections | None = None
    ) -> list[FrameResult]:
        """One frame tracked; `detections` are the frame's `detect`, when a caller already has them."""
        index = self.position if index is None else index
        image = check_frame(image, self.size, index)
        self.size = self.size or image.shape[:2]
        return [self.update(self.detect(image) if detections is None else detections, image, index)]

    def flush(self) -> list[FrameResult]:
        return []

    def update(self, det: Detections, image: np.ndarray, index: int) -> FrameResult:
        """Matches one frame's detections (`detect`'s) to the tracks; the frame's result."""
        pos = self.position
        self.position += 1
        self.size = self.size or image.shape[:2]
        det = det[np.asarray(det.scores) >= self.low_threshold]
        lab = lab_image(image)
        masks = np.asarray(det.masks, bool)
        rles = det.to_rle()
        ids = np.full(len(det), -1, np.int64)
        for phrase in self.prompts:
            rows = np.array([i for i, p in enumerate(det.phrases) if p == phrase], np.int64)
            obs = _Observations(
                rows=rows,
                rles=[rles[i] for i in rows],
                areas=np.array([masks[i].sum() for i in rows], float),
                centres=np.array([_centroid(masks[i]) for i in rows]).reshape(-1, 2),
                colours=[mask_colour(lab, masks[i]) for i in rows],
                scores=np.asarray(det.scores, float)[rows],
            )
            for k, oid in self._associate(phrase, obs, pos).items():
                ids[rows[k]] = oid
        self._forget(pos)
        keep = sorted(np.flatnonzero(ids >= 0), key=lambda i: ids[i])
        return FrameResult(
            index=index,
            position=pos,
            size=self.size,
            object_ids=[int(ids[i]) for i in keep],
            phrases=[det.phrases[i] for i in keep],
            scores=np.asarray(det.scores, np.float32)[keep],
            boxes=np.asarray(det.boxes, np.float32)[keep].reshape(-1, 4),
            rles=[rles[i] for i in keep],
            tracker_scores=None,
        )

    # -- association -----------------------------------------------------------------------------
    def _associate(self, phrase: str, obs: _Observations, pos: int) -> dict[int, int]:
        """{observation: track id} for one phrase on frame `pos`; updates, starts and re-identifies tracks."""
        cfg = self.config
        tracks = [t for t in self.tracks.values() if t.phrase == phrase]
        n, m = len(obs), len(tracks)
        assigned: dict[int, int] = {}
        if n and m:
            gap = np.array([pos - t.seen for t in tracks], float)
            expected = [t.centre + t.velocity * g for t, g in zip(tracks, gap, strict=True)]
            # overlap with the last mask moved where the track is expected, or left where it was (a wrong
            # motion, or a mask cut by the picture's edge when moved)
            moved = [_shifted(t.rle, e - t.centre) for t, e in zip(tracks, expected, strict=True)]
            iou, contain = _overlaps(obs, moved)
            iou_still, contain_still = _overlaps(obs, [t.rle for t in tracks])
            iou, contain = np.maximum(iou, iou_still), np.maximum(contain, contain_still)
            size = np.array([t.size for t in tracks])
            dist = np.linalg.norm(obs.centres[:, None, :] - np.array(expected)[None, :, :], axis=2) / size[None, :]
            colour = np.array([[_colour_distance(c, t.colour) for t in tracks] for c in obs.colours]).reshape(n, m)
            whole = np.array([t.whole_area for t in tracks])
            ratio = obs.areas[:, None] / whole[None, :]
            recent = (gap <= cfg.recent)[None, :]
            radius = cfg.gate + cfg.gate_growth * np.maximum(gap - 1, 0)[None, :]
            near = dist <= radius
            same_colour = colour <= cfg.colour_max
            overlapping = (iou >= cfg.min_iou) | ((contain >= cfg.contain) & near)
            sized = ratio <= cfg.size_max
            similarity = iou + 0.5 * contain - 0.5 * dist / radius - 0.5 * colour / cfg.colour_max
            high = (obs.scores >= self.threshold)[:, None]
            low = ~high
            # 1: confident detections, every track where it is expected
            allowed = high & same_colour & ((recent & overlapping) | (~recent & near & sized))
            for k, j in _match(similarity, allowed):
                assigned[k] = j
            # 2: unsure detections, only tracks seen just before, where they are expected
            free_obs = np.array([k not in assigned for k in range(n)])[:, None]
            free_tracks = np.array([j not in assigned.values() for j in range(m)])[None, :]
            allowed = low & free_obs & free_tracks & recent & overlapping & same_colour
            for k, j in _match(similarity, allowed):
                assigned[k] = j
            # 3: confident detections left re-identify a track of their colour and size: lost, anywhere;
            # seen just before, near (it changed more than overlap and motion allowed)
            free_obs = np.array([k not in assigned for k in range(n)])[:, None]
            free_tracks = np.array([j not in assigned.values() for j in range(m)])[None, :]
            starts = (obs.scores >= self.new_object_threshold)[:, None]
            known = np.array([[c is not None and t.colour is not None for t in tracks] for c in obs.colours])
            allowed = starts & free_obs & free_tracks & known.reshape(n, m) & (colour <= cfg.reid_colour)
            allowed &= (~recent & sized) | (recent & (dist <= cfg.reid_near))
            for k, j in _match(-colour - dist, allowed):
                assigned[k] = j
                if not recent[0, j]:
                    tracks[j].moving = False  # its motion before it was lost says nothing now
                    tracks[j].velocity = np.zeros(2)
        result = {k: tracks[j].id for k, j in assigned.items()}
        for k, j in assigned.items():
            self._observe(tracks[j], obs, k, pos)
        matched = [obs.rles[k] for k in assigned]
        for k in range(n):
            if k in assigned or obs.colours[k] is None or not self._may_start(obs.scores[k]):
                continue  # (a sliver too small to describe waits until it can be told from a returning track)
            if matched and mask_iou([obs.rles[k]], matched).max() >= 0.5:
                continue  # a second detection of an object already followed
            oid = self.next_id
            self.next_id += 1
            self.tracks[oid] = Track(
                oid, phrase, obs.rles[k], obs.centres[k], obs.areas[k], obs.areas[k], obs.colours[k],
                float(obs.scores[k]), seen=pos,
            )
            self.object_phrases[oid] = phrase
            result[k] = oid
            matched.append(obs.rles[k])
        return result

    def _may_start(self, score: float) -> bool:
        if not self.spawn or score < self.new_object_threshold:
            return False
        return self.max_objects is None or len(self.tracks) < self.max_objects

    def _observe(self, track: Track, obs: _Observations, k: int, pos: int) -> None:
        """Track `track` seen as observation `k` on frame `pos`: its mask, motion, size and colour now."""
        area = float(obs.areas[k])
        whole = area >= self.config.whole * track.whole_area
        gap = pos - track.seen
        if whole and track.was_whole and 0 < gap <= self.config.recent:
            step = (obs.centres[k] - track.centre) / gap
            track.velocity = step if not track.moving else 0.5 * track.velocity + 0.5 * step
            track.moving = True
        if area > track.whole_area:
            track.whole_area = area
        elif whole:
            track.whole_area = 0.8 * track.whole_area + 0.2 * area
        if whole and obs.colours[k] is not None:
            track.colour = obs.colours[k] if track.colour is None else 0.8 * track.colour + 0.2 * obs.colours[k]
        track.rle, track.centre, track.area = obs.rles[k], obs.centres[k], area
        track.seen, track.was_whole = pos, whole
        track.score = max(track.score, float(obs.scores[k]))

    def _forget(self, pos: int) -> None:
        """Drops tracks lost too long, then the longest lost beyond `max_tracks`; seeds stay."""
        cfg = self.config
        for oid in [o for o, t in self.tracks.items() if not t.seed and pos - t.seen > cfg.max_lost]:
            del self.tracks[oid]
        extra = len(self.tracks) - cfg.max_tracks
        if extra > 0:
            old = sorted((t for t in self.tracks.values() if not t.seed), key=lambda t: t.seen)[:extra]
            for t in old:
                del self.tracks[t.id]
