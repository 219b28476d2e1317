"""Video: SAM 3 text-prompted detect-and-track, and click/box/mask tracking, with bounded memory."""

from sam3.video.config import video_config
from sam3.video.loading import LoadedTrackerVideo, LoadedVideoSam3, load_tracker_video, load_video_sam3
from sam3.video.reader import VideoError, VideoInfo, VideoReader, probe
from sam3.video.results import FrameResult
from sam3.video.tracking import AssociationTracker, PromptTracker, TextTracker, track_from_masks, track_text

__all__ = [
    "AssociationTracker",
    "FrameResult",
    "LoadedTrackerVideo",
    "LoadedVideoSam3",
    "PromptTracker",
    "TextTracker",
    "VideoError",
    "VideoInfo",
    "VideoReader",
    "load_tracker_video",
    "load_video_sam3",
    "probe",
    "track_from_masks",
    "track_text",
    "video_config",
]
