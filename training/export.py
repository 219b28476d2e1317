"""`python -m training.export RUN_CHECKPOINT OUT_DIR [--score-threshold T]`: ship a training checkpoint.

Copies the loadable files (config, safetensors weights, processor and tokenizer) and leaves
the optimizer state behind; writes a model card with the training step. `--score-threshold` records
the operating point calibrated for this checkpoint (`python -m benchmarks.shapes_eval --calibrate`) in
its config, where `LoadedSam3.score_threshold` reads it: a small model trained with IoU-aware scores
does not score like facebook/sam3, whose 0.5 is the default otherwise. The config also declares the words
the model knows (`vocabulary`: ShapesWorld's colours, shapes and generic nouns), so that the agent reads
other words as the nearest known ones instead of sending them to the model (`LoadedSam3.vocabulary`).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

MODEL_FILES = ("config.json", "model.safetensors", "processor_config.json", "tokenizer.json", "tokenizer_config.json")


def shapes_vocabulary() -> dict[str, list[str]]:
    """The words a ShapesWorld checkpoint knows: its 9 colours, 6 shapes and the generic nouns."""
    from shapesworld.phrases import GENERIC
    from shapesworld.scene import COLOURS, SHAPES

    return {"colours": list(COLOURS), "nouns": list(SHAPES), "generic": list(GENERIC)}


def export(
    checkpoint: str | Path,
    out_dir: str | Path,
    notes: str = "",
    score_threshold: float | None = None,
    look_closer: bool = False,
    mask_threshold: float | None = None,
    vocabulary: dict[str, list[str]] | None = None,
) -> Path:
    """`vocabulary` defaults to ShapesWorld's (`shapes_vocabulary`)."""
    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    missing = [f for f in MODEL_FILES if not (checkpoint / f).is_file()]
    if missing:
        raise ValueError(f"{checkpoint} is not a complete checkpoint: missing {', '.join(missing)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    for f in MODEL_FILES:
        shutil.copy2(checkpoint / f, out_dir / f)
    if score_threshold is not None:
        set_score_threshold(out_dir, score_threshold, look_closer, mask_threshold)
    set_vocabulary(out_dir, vocabulary or shapes_vocabulary())
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    card = [
        "# sam3-shapes",
        "",
        "A small SAM 3 (`transformers` `Sam3Model` layout) trained from scratch on ShapesWorld, the project's",
        "synthetic world of coloured shapes, with `python -m training`. It is the app's offline default and",
        "the model the tests use when they need one that really sees. It knows ShapesWorld's vocabulary",
        "(9 colours x 6 shapes, 'shape', 'object', plurals), not the real world.",
        "",
        f"- training step: {_steps(state)}",
        f"- size: {json.dumps(state['config']['size'])}",
    ]
    if score_threshold is not None:
        card.append(f"- calibrated score threshold (the default everywhere it is used): {score_threshold:g}")
        if mask_threshold is not None:
            card.append(f"- calibrated mask threshold (pixel probability): {mask_threshold:g}")
        if look_closer:
            card.append(
                "- calibrated with unsure detections scored again on a zoomed crop (`sam3.closer`), on by default"
            )
    if notes:
        card += ["", notes]
    write_card(out_dir, "\n".join(card) + "\n")
    return out_dir


def write_card(out_dir: Path, text: str) -> None:
    """A first model card where there is none; an existing (hand-written) card is kept and the new figures printed,
    so that re-exporting a checkpoint never throws its documentation away."""
    card = Path(out_dir) / "README.md"
    if card.exists():
        print(f"{card} kept: update it with the new checkpoint's figures:\n{text}")
    else:
        card.write_text(text)


def _steps(state: dict) -> str:
    averaged = state.get("averaged_steps")
    if averaged:  # training.average
        return f"{state['step']:,}: the average of the weights at steps {', '.join(f'{s:,}' for s in averaged)}"
    return f"{state['step']:,}"


def set_score_threshold(
    model_dir: str | Path, value: float, look_closer: bool = False, mask_threshold: float | None = None
) -> None:
    """Records the checkpoint's calibrated score threshold in its config.json, whether it was calibrated
    looking closer at unsure detections, and its mask threshold if calibrated (each then the default
    wherever it is loaded)."""
    if not 0.0 < value < 1.0:
        raise ValueError(f"a score threshold lies in (0, 1), got {value}")
    if mask_threshold is not None and not 0.0 < mask_threshold < 1.0:
        raise ValueError(f"a mask threshold lies in (0, 1), got {mask_threshold}")
    path = Path(model_dir) / "config.json"
    config = json.loads(path.read_text())
    config["score_threshold"] = float(value)
    config["look_closer"] = bool(look_closer)
    if mask_threshold is not None:
        config["mask_threshold"] = float(mask_threshold)
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def set_vocabulary(model_dir: str | Path, vocabulary: dict[str, list[str]]) -> None:
    """Records the words the checkpoint knows in its config.json ("colours", "nouns", "generic")."""
    if not vocabulary.get("nouns") and not vocabulary.get("generic"):
        raise ValueError("a vocabulary needs nouns")
    path = Path(model_dir) / "config.json"
    config = json.loads(path.read_text())
    config["vocabulary"] = {k: list(vocabulary.get(k, [])) for k in ("colours", "nouns", "generic")}
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("checkpoint")
    ap.add_argument("out_dir")
    ap.add_argument("--notes", default="", help="text appended to the model card (e.g. benchmark results)")
    ap.add_argument("--score-threshold", type=float, help="the calibrated operating point to record")
    ap.add_argument("--look-closer", action="store_true", help="the threshold was calibrated looking closer")
    ap.add_argument("--mask-threshold", type=float, help="the calibrated mask probability threshold to record")
    a = ap.parse_args(argv)
    print(export(a.checkpoint, a.out_dir, a.notes, a.score_threshold, a.look_closer, a.mask_threshold))


if __name__ == "__main__":
    main()
