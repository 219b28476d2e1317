"""ShapesWorld: a seeded synthetic world of coloured shapes with exact instance masks.

It gives the project a SAM 3 that really sees (trained on it) and ground truth for every
behaviour built on top: concept phrases, referring expressions, videos with identities.
"""

from shapesworld.phrases import PhraseSet, phrase_targets, sample_training_phrases
from shapesworld.referring import ReferringQuery, sample_queries
from shapesworld.render import RENDERERS, RenderedScene, render
from shapesworld.scene import COLOURS, SHAPES, Scene, Shape, generate, sample_scene
from shapesworld.video import RenderedVideo, VideoScene, VideoTrack, render_video, sample_video, write_mp4

__all__ = [
    "COLOURS",
    "RENDERERS",
    "SHAPES",
    "PhraseSet",
    "ReferringQuery",
    "RenderedScene",
    "RenderedVideo",
    "Scene",
    "Shape",
    "VideoScene",
    "VideoTrack",
    "generate",
    "phrase_targets",
    "render",
    "render_video",
    "sample_queries",
    "sample_scene",
    "sample_training_phrases",
    "sample_video",
    "write_mp4",
]
