"""Video models from the same checkpoints as images: a Hub id, a directory, or the bundled one.

A `facebook/sam3`-layout checkpoint (`model_type` "sam3_video": `detector_model.*`,
`tracker_model.*`, `tracker_neck.*`) loads as `Sam3VideoModel` (text prompts: detect and track)
and as `Sam3TrackerVideoModel` (clicks, boxes, masks). A detector-only checkpoint
(`model_type` "sam3", what this project trains and bundles) has no tracker weights, and this
module says so in one line rather than pretending:

- if its hidden size can host SAM 3's tracker (a multiple of 64, at least 128), the video
  model gets the trained detector and a *randomly initialised* tracker: detections on each
  frame are real, propagated masks are not;
- if not (the bundled ShapesWorld model has hidden size 64), text tracking runs in
  "associate" mode: the trained detector on every frame, identities kept by matching masks
  between frames (see `tracking.AssociationTracker`), and click tracking is unavailable.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import torch
from transformers import (
    AutoConfig,
    Sam3Model,
    Sam3Processor,
    Sam3TrackerVideoModel,
    Sam3TrackerVideoProcessor,
    Sam3VideoModel,
    Sam3VideoProcessor,
)
from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor

from sam3.loading import (
    LoadedSam3,
    ModelLoadError,
    ModelSource,
    default_device,
    default_dtype,
    resolve_source,
)
from sam3.video.config import tracker_config_for, tracker_incompatibility, video_config

log = logging.getLogger(__name__)

MODES = ("auto", "sam3", "associate")
_TRACKER_PREFIXES = ("tracker_model.", "tracker_neck.")


@dataclass
class LoadedVideoSam3:
    """A text-prompted video model and how far to trust its tracker.

    `mode` "sam3": `model` is a `Sam3VideoModel` (SAM 3's own detect-match-track logic).
    `mode` "associate": `model` is None and `detector` runs on each frame (see module docstring).
    `note` is one line for the user whenever the tracker is not a trained one.
    """

    model: Sam3VideoModel | None
    processor: Sam3VideoProcessor
    source: str
    device: torch.device
    dtype: torch.dtype
    mode: str
    tracker_trained: bool
    note: str | None = None
    fallback_reason: str | None = None
    detector: LoadedSam3 | None = field(default=None, repr=False)

    @property
    def image_size(self) -> int:
        return int(self.processor.image_processor.size["height"])


@dataclass
class LoadedTrackerVideo:
    """`Sam3TrackerVideoModel` (prompts on frames, propagated through the video) and its processor."""

    model: Sam3TrackerVideoModel
    processor: Sam3TrackerVideoProcessor
    image_processor: object
    source: str
    device: torch.device
    dtype: torch.dtype
    tracker_trained: bool
    note: str | None = None
    fallback_reason: str | None = None

    @property
    def image_size(self) -> int:
        return int(self.image_processor.size["height"])


def video_processors(directory: str, **kwargs) -> tuple[Sam3VideoProcessor, Sam3TrackerVideoProcessor]:
    """Both video processors, built from the checkpoint's image processor and tokenizer.

    Checkpoints saved by `Sam3Processor` carry no video-processor config; the video processor
    here copies the image processor's size and normalisation, so frames are prepared exactly as
    images are.
    """
    base = Sam3Processor.from_pretrained(directory, **kwargs)
    ip = base.image_processor
    size = {"height": ip.size["height"], "width": ip.size["width"]}
    vp = Sam2VideoVideoProcessor(size=size, image_mean=list(ip.image_mean), image_std=list(ip.image_std))
    text = Sam3VideoProcessor(image_processor=ip, video_processor=vp, tokenizer=base.tokenizer)
    clicks = Sam3TrackerVideoProcessor(image_processor=ip, video_processor=vp)
    return text, clicks


def _model_type(src: ModelSource) -> str:
    try:
        return AutoConfig.from_pretrained(src.path, **src.hub_kwargs()).model_type
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read the config of {src.path}: {exc}") from None


def _missing_tracker(missing: list[str]) -> bool:
    return any(k.startswith(_TRACKER_PREFIXES) for k in missing)


def random_tracker_note(source: str) -> str:
    return (
        f"{source} has no trained tracker weights: SAM 3's tracker is randomly initialised, so propagated "
        "masks and identities are not meaningful (per-frame detections are the trained detector's)"
    )


def associate_note(source: str, reason: str) -> str:
    return (
        f"{source} is a detector-only checkpoint and {reason}: tracking by running the detector on every "
        "frame and matching masks between frames (no tracker memory; an object that leaves and returns "
        "gets a new id)"
    )


def load_video_sam3(
    model: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    fallback: bool = True,
    mode: str = "auto",
) -> LoadedVideoSam3:
    """Loads a text-prompted video model (see the module docstring for detector-only checkpoints).

    `mode` "sam3" insists on SAM 3's tracker (raises when the checkpoint cannot host one),
    "associate" uses the detector alone on any checkpoint, "auto" picks "sam3" when possible.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    device = torch.device(device) if device is not None else default_device()
    dtype = dtype or default_dtype(device)
    src = resolve_source(model, fallback)
    kwargs = src.hub_kwargs()
    text_proc, _ = video_processors(src.path, **kwargs)
    common = {
        "processor": text_proc,
        "source": src.path,
        "device": device,
        "dtype": dtype,
        "fallback_reason": src.fallback_reason,
    }
    model_type = _model_type(src)

    if model_type == "sam3_video":
        video, info = Sam3VideoModel.from_pretrained(
            src.path, dtype=dtype, use_safetensors=True, output_loading_info=True, **kwargs
        )
        video = video.to(device).eval()
        trained = not _missing_tracker(info.get("missing_keys", []))
        note = None if trained else random_tracker_note(src.path)
        if mode == "associate":
            detector = LoadedSam3(
                video.detector_model,
                Sam3Processor(text_proc.image_processor, text_proc.tokenizer),
                src.path,
                device,
                dtype,
                src.fallback_reason,
            )
            note = associate_note(src.path, "associate mode was asked for")
            return LoadedVideoSam3(
                None, mode="associate", tracker_trained=trained, note=note, detector=detector, **common
            )
        return LoadedVideoSam3(video, mode="sam3", tracker_trained=trained, note=note, **common)

    if model_type != "sam3":
        raise ModelLoadError(f"{src.path} is a {model_type!r} checkpoint, not SAM 3")
    det = Sam3Model.from_pretrained(src.path, dtype=dtype, use_safetensors=True, **kwargs).to(device).eval()
    detector = LoadedSam3(
        det,
        Sam3Processor(text_proc.image_processor, text_proc.tokenizer),
        src.path,
        device,
        dtype,
        src.fallback_reason,
    )
    reason = tracker_incompatibility(det.config)
    if mode == "sam3" and reason:
        raise ModelLoadError(f"{src.path} cannot host SAM 3's tracker: {reason}")
    if mode == "associate" or reason:
        note = associate_note(src.path, f"{reason}" if reason else "associate mode was asked for")
        return LoadedVideoSam3(None, mode="associate", tracker_trained=False, note=note, detector=detector, **common)
    video = Sam3VideoModel(video_config(det.config)).to(dtype)
    video.detector_model.load_state_dict(det.state_dict())
    video = video.to(device).eval()
    del det, detector  # the video model holds the detector's weights now
    return LoadedVideoSam3(
        video,
        mode="sam3",
        tracker_trained=False,
        note=random_tracker_note(src.path),
        **common,
    )


def load_tracker_video(
    model: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    fallback: bool = True,
) -> LoadedTrackerVideo:
    """Loads `Sam3TrackerVideoModel` for click, box and mask prompts on video frames."""
    device = torch.device(device) if device is not None else default_device()
    dtype = dtype or default_dtype(device)
    src = resolve_source(model, fallback)
    kwargs = src.hub_kwargs()
    text_proc, proc = video_processors(src.path, **kwargs)
    model_type = _model_type(src)
    if model_type == "sam3_video":
        tracker, info = Sam3TrackerVideoModel.from_pretrained(
            src.path, dtype=dtype, use_safetensors=True, output_loading_info=True, **kwargs
        )
        missing = [k for k in info.get("missing_keys", []) if not k.startswith("vision_encoder.backbone.")]
        trained = not missing
    elif model_type == "sam3":
        det = Sam3Model.from_pretrained(src.path, dtype=dtype, use_safetensors=True, **kwargs)
        reason = tracker_incompatibility(det.config)
        if reason:
            raise ModelLoadError(
                f"{src.path} is a detector-only checkpoint and {reason}, so click, box and mask tracking "
                "on video is not available with it"
            )
        from transformers import Sam3TrackerVideoConfig

        tracker = Sam3TrackerVideoModel(Sam3TrackerVideoConfig(**tracker_config_for(det.config))).to(dtype)
        tracker.vision_encoder.backbone.load_state_dict(det.vision_encoder.backbone.state_dict())
        trained = False
    else:
        raise ModelLoadError(f"{src.path} is a {model_type!r} checkpoint, not SAM 3")
    tracker = tracker.to(device).eval()
    return LoadedTrackerVideo(
        tracker,
        proc,
        text_proc.image_processor,
        src.path,
        device,
        dtype,
        trained,
        note=None if trained else random_tracker_note(src.path),
        fallback_reason=src.fallback_reason,
    )
