"""What training SAM 3's video tracker for the bundled checkpoint would cost on this CPU: seconds per step.

    python -m benchmarks.video_tracker_cost [--steps 4] [--frames 8] [--objects 1] [--json OUT]

`transformers`' tracker needs FPN features at least 128 wide (`sam3.video.config`); the bundled detector's are 64.
So a tracker for it means a new FPN neck of width 128 on the bundled ViT (frozen here), plus the tracker's own
modules (prompt encoder, mask decoder, memory attention, memory encoder), trained on clips. This times one
training step of exactly that on random 512 px clips: forward through every frame with memory (gradients on),
a mask loss, backward, AdamW. Two tracker sizes: facebook/sam3's proportions at width 128, and the tiny one the
tests use. The step count a working tracker needs is not measured here; docs/video.md estimates it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace

import torch
from transformers import Sam3TrackerVideoConfig, Sam3TrackerVideoModel
from transformers.models.sam3_tracker_video.modeling_sam3_tracker_video import Sam3TrackerVideoInferenceSession

from benchmarks.output import save_json
from sam3.loading import BUNDLED_DIR
from sam3.video.config import tracker_config_for
from sam3.video.loading import video_processors
from training.configs import Sam3Size, sam3_config

BUNDLED = Sam3Size(
    image_size=512, patch_size=32, vit_hidden=96, vit_layers=8, vit_heads=4, hidden=64, heads=4, text_hidden=64,
    text_layers=2, vocab_size=600, detr_encoder_layers=2, detr_decoder_layers=3, geometry_layers=1,
    num_queries=16, ffn_ratio=4,
)


def step_seconds(small: bool, steps: int, frames: int, objects: int) -> dict:
    """Median seconds of a training step after one warm-up step, and the trainable parameters."""
    config = Sam3TrackerVideoConfig(**tracker_config_for(sam3_config(replace(BUNDLED, hidden=128)), small=small))
    model = Sam3TrackerVideoModel(config).eval()  # eval: the forward returns object scores; no dropout anyway
    for p in model.vision_encoder.backbone.parameters():
        p.requires_grad_(False)  # the detector's ViT, shared and frozen
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, 1e-4)
    processor = video_processors(str(BUNDLED_DIR))[1]
    forward = Sam3TrackerVideoModel.forward.__wrapped__  # without its inference_mode, so gradients flow
    size = config.image_size
    times = []
    for _ in range(steps + 1):
        t0 = time.perf_counter()
        session = Sam3TrackerVideoInferenceSession(
            video=torch.randn(frames, 3, size, size), video_height=size, video_width=size,
            inference_device="cpu", inference_state_device="cpu", video_storage_device="cpu", dtype=torch.float32,
        )
        for obj in range(objects):
            processor.add_inputs_to_inference_session(
                session, frame_idx=0, obj_ids=obj, input_points=[[[[100.0 + 60 * obj, 150.0]]]], input_labels=[[[1]]]
            )
        loss = torch.zeros(())
        for t in range(frames):
            logits = forward(model, inference_session=session, frame_idx=t).pred_masks.float()
            loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - t0)
    measured = sorted(times[1:])
    return {
        "tracker": "tiny (tests)" if small else "facebook/sam3 proportions",
        "trainable_parameters": sum(p.numel() for p in trainable),
        "frames_per_clip": frames,
        "objects": objects,
        "step_seconds": [round(t, 2) for t in times[1:]],
        "median_step_seconds": round(measured[len(measured) // 2], 2),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--frames", type=int, default=8, help="frames per training clip (SAM 2 trains on 8)")
    ap.add_argument("--objects", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    runs = [step_seconds(small, a.steps, a.frames, a.objects) for small in (False, True)]
    results = {"threads": a.threads, "load_average": [round(x, 2) for x in os.getloadavg()], "runs": runs}
    print(json.dumps(results, indent=1))
    save_json(results, a.json)
    return results


if __name__ == "__main__":
    main()
