"""Downloads: COCO JSON with RLE masks, a zip of PNG masks, the overlay PNG and the agent trace JSON.

Every file goes into a per-session folder inside the app's own temp folder (`$GRADIO_TEMP_DIR`, else
the system temp dir + `/gradio`), under names chosen here: nothing a user sends ever becomes a path.
Gradio serves these files from where they lie (they are inside its upload folder), so a session keeps the
newest few folders of each kind and removes its whole folder when the session ends (`gr.State`'s
`delete_callback`); folders older than a day are swept when the app starts.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from sam3.detections import Detections, boxes_from_masks

APP_DIR_NAME = "sam3-agent-demo"
KEEP_FOLDERS = 2
STALE_SECONDS = 24 * 3600


def app_temp_dir() -> Path:
    root = os.environ.get("GRADIO_TEMP_DIR") or str(Path(tempfile.gettempdir()) / "gradio")
    return Path(root).resolve() / APP_DIR_NAME


def sweep_stale(max_age_s: float = STALE_SECONDS) -> int:
    """Removes session folders left by a previous run of the app (or a session that never ended)."""
    root, removed = app_temp_dir(), 0
    if not root.is_dir():
        return 0
    for child in root.iterdir():
        try:
            if child.is_dir() and time.time() - child.stat().st_mtime > max_age_s:
                shutil.rmtree(child, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed


_sweeper: threading.Thread | None = None


def start_sweeper(max_age_s: float, every_s: float = 600.0) -> None:
    """Sweeps stale session folders now and then every `every_s` seconds, for as long as the app runs
    (a session that never ended cleanly, or a browser tab left open for days, leaves no files behind)."""
    global _sweeper
    sweep_stale(max_age_s)
    if _sweeper is not None and _sweeper.is_alive():
        return

    def loop() -> None:
        while True:
            time.sleep(every_s)
            sweep_stale(max_age_s)

    _sweeper = threading.Thread(target=loop, daemon=True, name="sweep-session-files")
    _sweeper.start()


class SessionFiles:
    """One session's staging folder; created on first use, so copies of an unused value cost nothing."""

    def __init__(self):
        self.dir: Path | None = None
        self._count = 0
        self._lock = threading.Lock()

    def __deepcopy__(self, memo):  # gr.State deep-copies its initial value per session: give each a new folder
        return SessionFiles()

    def new_folder(self, kind: str, keep: int = KEEP_FOLDERS) -> Path:
        """A fresh folder for one result; older ones of the same kind beyond `keep` are removed.

        Gradio serves files that already lie in its upload folder from where they are, so a folder must
        outlive the page showing it: a new run replaces the whole trace, a new export the downloads.
        """
        with self._lock:
            if self.dir is None:
                self.dir = app_temp_dir() / uuid.uuid4().hex
            self._count += 1
            folder = self.dir / f"{kind}-{self._count:05d}"
            folder.mkdir(parents=True, exist_ok=True)
            old = sorted(p for p in self.dir.glob(f"{kind}-*") if p.is_dir())[:-keep]
        for p in old:
            shutil.rmtree(p, ignore_errors=True)
        return folder

    def cleanup(self) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)


def safe_stem(name: str, default: str = "image") -> str:
    """A file-name stem made of safe characters only, from an upload's name."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(name or "").stem).strip("_")[:60]
    return stem or default


def coco_dict(
    detections: Detections,
    file_name: str = "image.png",
    extra: dict | None = None,
    numbers: list[int] | None = None,
) -> dict:
    """COCO instance results for one image: category = phrase, segmentation = compressed RLE, bbox = XYWH.

    As in COCO, `bbox` is the mask's tight box (the model's own box is `model_box`, XYXY).

    `numbers` are the masks' numbers as shown in the app (`mask_number`; default 1..N).
    """
    h, w = detections.image_size
    phrases = list(dict.fromkeys(detections.phrases))
    cat_ids = {p: k + 1 for k, p in enumerate(phrases)}
    rles = detections.to_rle()
    areas = detections.areas
    tight = boxes_from_masks(detections.masks)
    annotations = []
    for i in range(len(detections)):
        x0, y0, x1, y1 = (float(v) for v in tight[i])
        annotations.append(
            {
                "id": i + 1,
                "image_id": 1,
                "category_id": cat_ids[detections.phrases[i]],
                "segmentation": rles[i],
                "area": int(areas[i]),
                "bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
                "iscrowd": 0,
                "score": round(float(detections.scores[i]), 4),
                "model_box": [round(float(v), 2) for v in detections.boxes[i]],
                "mask_number": numbers[i] if numbers is not None else i + 1,
            }
        )
    return {
        "info": {
            "description": "SAM 3 agent demo export",
            "date_created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **(extra or {}),
        },
        "images": [{"id": 1, "width": w, "height": h, "file_name": file_name}],
        "annotations": annotations,
        "categories": [{"id": cat_ids[p], "name": p} for p in phrases],
    }


def masks_zip(detections: Detections, numbers: list[int] | None = None) -> bytes:
    """One 8-bit PNG (0 / 255) per mask, named `mask_<n>_<phrase>.png` (n as in the app when `numbers`)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(len(detections)):
            png = io.BytesIO()
            Image.fromarray(detections.masks[i].astype(np.uint8) * 255).save(png, format="PNG", optimize=True)
            n = numbers[i] if numbers is not None else i + 1
            zf.writestr(f"mask_{n:03d}_{safe_stem(detections.phrases[i], 'mask')}.png", png.getvalue())
    return buf.getvalue()


def write_exports(
    files: SessionFiles,
    detections: Detections,
    overlay: np.ndarray,
    image_name: str,
    trace: dict | None = None,
    extra: dict | None = None,
    numbers: list[int] | None = None,
) -> list[str]:
    """Writes the downloads for one result; returns their paths (COCO JSON first)."""
    folder = files.new_folder("export")
    stem = safe_stem(image_name)
    coco = folder / f"{stem}_masks_coco.json"
    coco.write_text(json.dumps(coco_dict(detections, Path(image_name).name or "image.png", extra, numbers)))
    zipped = folder / f"{stem}_masks_png.zip"
    zipped.write_bytes(masks_zip(detections, numbers))
    over = folder / f"{stem}_overlay.png"
    Image.fromarray(overlay).save(over)
    paths = [coco, zipped, over]
    if trace is not None:
        tr = folder / f"{stem}_agent_trace.json"
        tr.write_text(json.dumps(trace, indent=1))
        paths.append(tr)
    return [str(p) for p in paths]


def write_png(folder: Path, name: str, image: np.ndarray) -> str:
    path = folder / name
    Image.fromarray(image).save(path)
    return str(path)
