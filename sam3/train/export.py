"""`python -m sam3.train.export RUN_CHECKPOINT OUT_DIR`: ship a training checkpoint as a model.

Copies the loadable files (config, safetensors weights, processor and tokenizer) and leaves
the optimizer state behind; writes a model card with the training step.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

MODEL_FILES = ("config.json", "model.safetensors", "processor_config.json", "tokenizer.json", "tokenizer_config.json")


def export(checkpoint: str | Path, out_dir: str | Path, notes: str = "") -> Path:
    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    missing = [f for f in MODEL_FILES if not (checkpoint / f).is_file()]
    if missing:
        raise ValueError(f"{checkpoint} is not a complete checkpoint: missing {', '.join(missing)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    for f in MODEL_FILES:
        shutil.copy2(checkpoint / f, out_dir / f)
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    card = [
        "# sam3-shapes",
        "",
        "A small SAM 3 (`transformers` `Sam3Model` layout) trained from scratch on ShapesWorld, the project's",
        "synthetic world of coloured shapes, with `python -m sam3.train`. It is the app's offline default and",
        "the model the tests use when they need one that really sees. It knows ShapesWorld's vocabulary",
        "(9 colours x 6 shapes, 'shape', 'object', plurals), not the real world.",
        "",
        f"- training step: {state['step']}",
        f"- size: {json.dumps(state['config']['size'])}",
    ]
    if notes:
        card += ["", notes]
    (out_dir / "README.md").write_text("\n".join(card) + "\n")
    return out_dir


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("checkpoint")
    ap.add_argument("out_dir")
    ap.add_argument("--notes", default="", help="text appended to the model card (e.g. benchmark results)")
    a = ap.parse_args(argv)
    print(export(a.checkpoint, a.out_dir, a.notes))


if __name__ == "__main__":
    main()
