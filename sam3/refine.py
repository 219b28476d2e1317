"""Refining one object with SAM-style clicks and boxes (`Sam3TrackerModel`) on a cached encoding.

SAM 3's detector and tracker share one ViT backbone and differ only in their FPN necks, so a
refinement reuses the image session's backbone output: only the tracker's neck and its light
prompt/mask decoders run per click. The tracker's backbone module is the detector's (one copy
of the weights in memory), and nothing here ever changes it: the cached output goes through the
tracker's neck directly, so refinements and other visitors' encodings can run at the same time.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import Sam3Config, Sam3Model, Sam3TrackerConfig, Sam3TrackerModel, Sam3TrackerProcessor

from sam3.detections import Detections, boxes_from_masks
from sam3.loading import LoadedSam3
from sam3.session import ImageSession

log = logging.getLogger(__name__)

TRACKER_FOLDER = "tracker"  # a detector-only checkpoint's trained tracker, if it has one


@dataclass(frozen=True)
class Click:
    """A point in pixels of the original image; positive adds to the object, negative removes."""

    x: float
    y: float
    positive: bool = True


def embeddings_from_backbone(tracker: Sam3TrackerModel, last_hidden_state: torch.Tensor) -> list[torch.Tensor]:
    """`tracker.get_image_embeddings` from an already computed backbone output (batch, tokens, channels).

    The same steps as the library's `get_image_features` + `get_image_embeddings` after the backbone (the
    tracker's FPN neck, the mask decoder's two high-resolution projections, the no-memory embedding), so a
    cached encoding serves clicks without running, or patching, the shared backbone.
    """
    batch, tokens, channels = last_hidden_state.shape
    side = int(round(tokens**0.5))
    spatial = last_hidden_state.view(batch, side, side, channels).permute(0, 3, 1, 2)
    feature_maps, _ = tracker.vision_encoder.neck(spatial)
    feature_maps = list(feature_maps)
    feature_maps[0] = tracker.mask_decoder.conv_s0(feature_maps[0])
    feature_maps[1] = tracker.mask_decoder.conv_s1(feature_maps[1])
    feature_maps = [f.flatten(2).permute(2, 0, 1) for f in feature_maps]
    feature_maps[-1] = feature_maps[-1] + tracker.no_memory_embedding
    return [
        f.permute(1, 2, 0).view(batch, -1, *size) for f, size in zip(feature_maps, tracker.backbone_feature_sizes)
    ]


def tracker_config_for(detector: Sam3Config) -> Sam3TrackerConfig:
    """A tracker config matching a detector-only checkpoint (whose config names no tracker).

    `facebook/sam3` ships both; a detector-only checkpoint (the project's own) gets a tracker of
    the detector's width, sharing its backbone; its decoders are untrained until trained.
    """
    vision = detector.vision_config
    hidden = vision.fpn_hidden_size
    backbone = vision.backbone_config
    return Sam3TrackerConfig(
        vision_config=vision.to_dict(),
        prompt_encoder_config={
            "hidden_size": hidden,
            "image_size": backbone.image_size,
            "patch_size": backbone.patch_size,
        },
        mask_decoder_config={
            "hidden_size": hidden,
            "mlp_dim": hidden * 4,
            "iou_head_hidden_dim": hidden,
            "num_attention_heads": max(1, hidden // 32),
        },
    )


def tracker_for(detector: Sam3Model) -> Sam3TrackerModel:
    """A tracker whose vision encoder (backbone and FPN neck) copies the detector's; decoders freshly initialised."""
    tracker = Sam3TrackerModel(tracker_config_for(detector.config))
    tracker.vision_encoder.load_state_dict(detector.vision_encoder.state_dict())
    return tracker


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


class Refiner:
    """Loads the tracker next to a loaded detector; `refine` answers clicks on an `ImageSession`.

    facebook/sam3 ships its tracker; a detector-only checkpoint may carry one trained for it in a
    `tracker/` folder (`python -m training.clicks`); otherwise it gets an untrained one (`trained` False).
    """

    def __init__(self, loaded: LoadedSam3):
        self.loaded = loaded
        kwargs = {"local_files_only": True} if loaded.fallback_reason or "/" in loaded.source[:1] else {}
        detector_only = getattr(loaded.model.config, "model_type", "") == "sam3"
        own = Path(loaded.source) / TRACKER_FOLDER
        if detector_only and (own / "config.json").is_file():
            self.tracker = Sam3TrackerModel.from_pretrained(own, dtype=loaded.dtype)
            self.processor = Sam3TrackerProcessor.from_pretrained(own)
            self.trained = True
        else:
            if detector_only:
                self.tracker = tracker_for(loaded.model).to(loaded.dtype)
            else:
                self.tracker = Sam3TrackerModel.from_pretrained(loaded.source, dtype=loaded.dtype, **kwargs)
            self.processor = Sam3TrackerProcessor.from_pretrained(loaded.source, **kwargs)
            self.trained = not detector_only
        self.tracker.to(loaded.device).eval()
        detector_backbone = loaded.model.vision_encoder.backbone
        if _same_weights(self.tracker.vision_encoder.backbone, detector_backbone):
            self.tracker.vision_encoder.backbone = detector_backbone
            self.shares_backbone = True
        else:
            log.warning("the tracker's backbone differs from the detector's: refinement re-encodes images")
            self.shares_backbone = False
        self._cache: dict[str, list[torch.Tensor]] = {}
        self._lock = threading.Lock()

    def _embeddings(self, session: ImageSession) -> list[torch.Tensor]:
        with self._lock:
            if session.key not in self._cache:
                with torch.inference_mode():
                    if self.shares_backbone:
                        emb = embeddings_from_backbone(self.tracker, session.vision().last_hidden_state)
                    else:
                        pixels = self.processor(images=session.image, return_tensors="pt").pixel_values
                        emb = self.tracker.get_image_embeddings(pixels.to(self.loaded.device, self.loaded.dtype))
                self._cache = {session.key: emb}  # one image at a time: a person refines the image they see
            return self._cache[session.key]

    def refine(
        self,
        session: ImageSession,
        clicks: list[Click] = (),
        box: tuple[float, float, float, float] | None = None,
        phrase: str = "refined",
    ) -> Detections:
        """The single best mask for the clicks and/or box, at the image's full size."""
        if not clicks and box is None:
            raise ValueError("give at least one click or a box to refine an object")
        h, w = session.size
        for c in clicks:
            if not (0 <= c.x < w and 0 <= c.y < h):
                raise ValueError(f"click ({c.x}, {c.y}) lies outside the {w}x{h} image")
        kwargs = {"original_sizes": [[h, w]], "return_tensors": "pt"}
        if clicks:
            kwargs["input_points"] = [[[[c.x, c.y] for c in clicks]]]
            kwargs["input_labels"] = [[[int(c.positive) for c in clicks]]]
        if box is not None:
            kwargs["input_boxes"] = [[list(map(float, box))]]
        enc = self.processor(**kwargs)
        inputs = {k: v.to(self.loaded.device) for k, v in enc.items() if k.startswith("input_")}
        if "input_points" in inputs:
            inputs["input_points"] = inputs["input_points"].to(self.loaded.dtype)
        if "input_boxes" in inputs:
            inputs["input_boxes"] = inputs["input_boxes"].to(self.loaded.dtype)
        with torch.inference_mode():
            out = self.tracker(
                image_embeddings=self._embeddings(session),
                multimask_output=len(clicks) == 1 and box is None,
                **inputs,
            )
        scores = out.iou_scores[0, 0].float()
        best = int(scores.argmax())
        masks = self.processor.post_process_masks(
            out.pred_masks[:, :, best : best + 1].float().cpu(), [[h, w]]
        )
        mask = masks[0][0, 0].numpy().astype(bool)[None]
        return Detections(
            masks=mask,
            boxes=boxes_from_masks(mask),
            scores=np.array([float(scores[best])], np.float32),
            phrases=[phrase],
            image_size=(h, w),
        )
