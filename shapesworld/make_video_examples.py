"""Regenerates the app's offline video examples: short ShapesWorld clips in `assets/examples/`.

    python -m shapesworld.make_video_examples [--out assets/examples]

Each clip has shapes that cross, leave and enter; `videos.json` lists the files, the phrases to try
(the clip's most frequent shapes) and an agent query on a key frame.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from shapesworld.video import render_video, sample_video, write_mp4

OUT_DIR = Path(__file__).resolve().parent.parent / "assets" / "examples"
CLIPS = (("moving_shapes.mp4", 7), ("crossing_shapes.mp4", 21))


def make(out: Path = OUT_DIR) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, seed in CLIPS:
        scene = sample_video(seed, width=320, height=240, fps=10, seconds=4.0)
        kinds = Counter(t.kind for t in scene.tracks).most_common(2)
        phrases = ", ".join(kind for kind, _ in kinds)  # the clip's most frequent shapes
        write_mp4(render_video(scene).frames, out / name, fps=10)
        query = f"the leftmost {kinds[0][0]}"
        entries.append({"file": name, "seed": seed, "phrases": phrases, "query": query, "key_s": 1.0})
    (out / "videos.json").write_text(json.dumps(entries, indent=1) + "\n")
    return entries


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    for entry in make(ap.parse_args(argv).out):
        print(entry)


if __name__ == "__main__":
    main()
