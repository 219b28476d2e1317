"""SAM 3 as a fast tool: one vision encoding per image, batched phrases, clean results as COCO RLE."""

from sam3.detections import Detections
from sam3.loading import BUNDLED_DIR, HUB_MODEL, LoadedSam3, ModelLoadError, load_sam3
from sam3.refine import Click, Refiner
from sam3.session import BoxPrompt, ImageSession, Segmenter, Timing

__all__ = [
    "BUNDLED_DIR",
    "HUB_MODEL",
    "BoxPrompt",
    "Click",
    "Detections",
    "ImageSession",
    "LoadedSam3",
    "ModelLoadError",
    "Refiner",
    "Segmenter",
    "Timing",
    "load_sam3",
]
