"""Issue #2: k phrases on one image through one session cost one vision encoding plus k light passes.

Three ways to answer the same k phrases on one image, timed in one process:

  (a) independent  k full calls, each through a fresh `ImageSession`: re-encodes the image and
                   re-embeds the text every time (what the official agent does per phrase);
  (b) sequential   one session (through a `Segmenter`, as the app uses it), k calls of one phrase;
  (c) batched      one session, one call with all k phrases.

It prints per-stage times (from `Timing`), totals, the ratios b/a and c/a (target for the full-size
model: <= 0.35), encoder call counts (1 vs k) and peak RSS, and writes the same numbers with --json.

    python -m benchmarks.session_speed [--config mid|full|shapes] [--phrases 4] [--repeats N] [--json OUT]

Weights are random (they do not change speed); the image is ../shared/media/truck.jpg if present,
else a generated ShapesWorld scene.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers.modeling_outputs import BaseModelOutputWithPooling

from sam3.detections import Detections
from sam3.features import select_vision
from sam3.image_io import load_image
from sam3.loading import REPO_ROOT, LoadedSam3, load_sam3
from sam3.session import ImageSession, Segmenter, Timing, image_key
from training.configs import SHAPES, Sam3Size

# A mid-size model that runs in seconds on a CPU: 448 px / patch 14 (a 32x32 grid, the real model has
# 72x72), an 8-layer 384-wide ViT, and the real model's widths for the DETR / text parts.
MID = Sam3Size(
    image_size=448,
    patch_size=14,
    vit_hidden=384,
    vit_layers=8,
    vit_heads=6,
    hidden=256,
    heads=8,
    text_hidden=256,
    text_layers=4,
    vocab_size=1024,
    detr_encoder_layers=6,
    detr_decoder_layers=6,
    geometry_layers=3,
    num_queries=200,
    ffn_ratio=8,
)
SIZES = {"shapes": SHAPES, "mid": MID}
PHOTO = REPO_ROOT.parent / "shared" / "media" / "truck.jpg"
PHRASES = ["truck", "wheel", "window", "person", "tire", "door", "mirror", "headlight", "road", "tree",
           "red circle", "blue square", "green triangle", "yellow star", "sky", "building"]
STAGES = ("encode_ms", "text_ms", "prompt_ms", "postprocess_ms")
STRATEGIES = ("independent", "sequential", "batched")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def current_rss_mb() -> float | None:
    try:
        import psutil
    except ImportError:
        return None
    return psutil.Process().memory_info().rss / (1 << 20)


def build(config: str, tmp: Path, device: str = "cpu", dtype: torch.dtype = torch.float32) -> LoadedSam3:
    """A random-initialised model of the given config (random weights do not change speed)."""
    if config == "full":
        from transformers import Sam3Config, Sam3Model

        from training.build import new_processor

        torch.manual_seed(0)
        model = Sam3Model(Sam3Config()).eval().to(device, dtype)  # 840 M params; ~3.4 GB: not written to disk
        return LoadedSam3(model, new_processor(1008), "random Sam3Config()", torch.device(device), dtype)
    from shapesworld.phrases import vocabulary
    from training.build import new_model, save_checkpoint

    model, processor = new_model(SIZES[config], words=vocabulary())
    save_checkpoint(model, processor, tmp / config)
    del model
    return load_sam3(tmp / config, device=device, dtype=dtype)


def test_image(width: int = 1024, height: int = 768):
    if PHOTO.is_file():
        return load_image(PHOTO), str(PHOTO.relative_to(REPO_ROOT.parent))
    import shapesworld

    return load_image(shapesworld.generate(0, width=width, height=height).image), "shapesworld.generate(0)"


def phrase_list(k: int) -> list[str]:
    return [PHRASES[i] if i < len(PHRASES) else f"object {i}" for i in range(k)]


def warm_up(loaded: LoadedSam3, image, phrases: list[str], threshold: float | None, per_phrase: int) -> float:
    """Primes every shape the timed runs use: encode, text and prompt at batch k and 1, post-processing.

    Returns the score threshold: `threshold` if given, else one that lets about `per_phrase` detections per
    phrase through. Random weights score every query near 0.25, so the usual 0.5 would keep nothing and make
    post-processing (full-size mask upsampling, mask NMS) look free; a real model returns a few per phrase.
    The threshold sits halfway between two neighbouring scores so that all strategies keep the same set.
    """
    session = ImageSession(loaded, image)
    vision = session.vision()
    feats, mask = session.text_embeddings(phrases)
    with torch.inference_mode():  # the batch-k prompt pass, done by hand to read every query's score
        out = loaded.model(vision_embeds=select_vision(vision, torch.zeros(len(phrases), dtype=torch.long)),
                           text_embeds=BaseModelOutputWithPooling(pooler_output=feats), attention_mask=mask)
    if threshold is None:
        scores = (out.pred_logits.float().sigmoid() * out.presence_logits.float().sigmoid()).flatten()
        top = scores.sort(descending=True).values
        n = min(len(phrases) * per_phrase, len(top) - 1)
        threshold = float(top[n - 1] + top[n]) / 2
    session.segment("warm up", threshold=threshold)  # the batch-1 passes and post-processing
    return threshold


def run_strategy(name: str, loaded: LoadedSam3, image, phrases: list[str], threshold: float) -> dict:
    """One timed run of a strategy on fresh sessions: totals, the stage split and the encoder count."""
    timing = Timing()
    dets: list[Detections] = []
    t0 = time.perf_counter()
    if name == "independent":
        sessions = []
        for p in phrases:
            session = ImageSession(loaded, image)  # nothing shared: encode + text + prompt, every call
            dets.append(session.segment(p, threshold=threshold, timing=timing))
            sessions.append(session)
        total_ms = 1e3 * (time.perf_counter() - t0)
        encodes = sum(s.encode_count for s in sessions)
        cache = None
        calls = len(phrases)
    else:
        segmenter = Segmenter(loaded)
        if name == "sequential":
            for p in phrases:
                dets.append(segmenter.segment(image, p, threshold=threshold, timing=timing))
            calls = len(phrases)
        else:
            dets.append(segmenter.segment(image, phrases, threshold=threshold, timing=timing))
            calls = 1
        total_ms = 1e3 * (time.perf_counter() - t0)
        stats = segmenter.cache_stats()
        encodes = stats.encoder_calls
        cache = {"hits": stats.hits, "misses": stats.misses, "feature_mb": round(stats.nbytes / (1 << 20), 1)}
    stages = timing.as_dict()
    return {
        "calls": calls,
        "encoder_calls": encodes,
        "cache": cache,
        "total_ms": round(total_ms, 1),
        "per_call_ms": round(total_ms / calls, 1),
        **stages,
        "other_ms": round(total_ms - sum(stages[s] for s in STAGES), 1),
        "detections": sum(len(d) for d in dets),
        "_dets": dets,
    }


def compare(a: list[Detections], b: list[Detections]) -> str:
    """Do two strategies find the same things? (phrases and scores; a batched call merges its phrases)."""
    def flat(dets):
        rows = [(p, float(s)) for d in dets for p, s in zip(d.phrases, d.scores, strict=True)]
        return sorted(rows)

    ra, rb = flat(a), flat(b)
    if len(ra) != len(rb) or [p for p, _ in ra] != [p for p, _ in rb]:
        return f"differ ({len(ra)} vs {len(rb)} detections)"
    diff = max((abs(x - y) for (_, x), (_, y) in zip(ra, rb, strict=True)), default=0.0)
    return f"same ({len(ra)} detections, max score diff {diff:.1e})"


def benchmark(config: str, k: int, repeats: int, threshold: float | None, per_phrase: int = 5,
              threads: int = 2, device: str = "cpu", dtype: torch.dtype = torch.float32) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    rss_start = peak_rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        loaded = build(config, Path(tmp), device, dtype)
        build_s = time.perf_counter() - t0
    params = sum(p.numel() for p in loaded.model.parameters())
    image, image_name = test_image()
    phrases = phrase_list(k)
    input_px = int(loaded.processor.image_processor.size["height"])
    print(f"config={config}  params={params / 1e6:.1f} M  input={input_px} px  "
          f"image={image_name} {image.width}x{image.height}  phrases={phrases}  "
          f"threads={torch.get_num_threads()}  "
          f"(built in {build_s:.1f} s)", flush=True)
    rss_model = peak_rss_mb()

    t0 = time.perf_counter()
    threshold = warm_up(loaded, image, phrases, threshold, per_phrase)
    warmup_s = time.perf_counter() - t0
    hash_ms = []
    for _ in range(5):  # what every Segmenter.segment call and every new ImageSession spends on the key
        t1 = time.perf_counter()
        image_key(image)
        hash_ms.append(1e3 * (time.perf_counter() - t1))
    print(f"warm-up {warmup_s:.1f} s; score threshold {threshold:.4f}; "
          f"image_key {statistics.median(hash_ms):.1f} ms per call", flush=True)

    runs: dict[str, list[dict]] = {s: [] for s in STRATEGIES}
    for r in range(repeats):
        for name in STRATEGIES:  # interleaved, so drift from the background load hits every strategy alike
            res = run_strategy(name, loaded, image, phrases, threshold)
            runs[name].append(res)
            print(f"  repeat {r + 1}/{repeats} {name:<11} {res['total_ms']:>10.1f} ms  "
                  f"encoder calls {res['encoder_calls']}", flush=True)

    agreement = {s: compare(runs["independent"][0]["_dets"], runs[s][0]["_dets"]) for s in STRATEGIES[1:]}
    summary = {}
    for name, rs in runs.items():  # the repeat with the median total, whole (its stages add up)
        med = sorted(rs, key=lambda x: x["total_ms"])[(len(rs) - 1) // 2]
        summary[name] = {k_: v for k_, v in med.items() if k_ != "_dets"}
        summary[name]["all_totals_ms"] = [x["total_ms"] for x in rs]
    a = summary["independent"]["total_ms"]
    per_repeat = {s: [round(runs[s][i]["total_ms"] / runs["independent"][i]["total_ms"], 3)
                      for i in range(repeats)] for s in STRATEGIES[1:]}
    best = {s: min(x["total_ms"] for x in runs[s]) for s in STRATEGIES}
    ratios = {
        "sequential_over_independent": round(summary["sequential"]["total_ms"] / a, 3),
        "batched_over_independent": round(summary["batched"]["total_ms"] / a, 3),
        "per_repeat": per_repeat,
        "median_per_repeat": {s: round(statistics.median(v), 3) for s, v in per_repeat.items()},
        "best_of_repeats": {s: round(best[s] / best["independent"], 3) for s in STRATEGIES[1:]},
    }
    return {
        "config": config,
        "size": (SIZES[config].__dict__ if config in SIZES else "transformers.Sam3Config()"),
        "params_m": round(params / 1e6, 1),
        "input_px": input_px,
        "image": image_name,
        "image_size": [image.width, image.height],
        "phrases": phrases,
        "repeats": repeats,
        "threshold": round(threshold, 5),
        "image_key_ms": round(statistics.median(hash_ms), 2),
        "threads": torch.get_num_threads(),
        "machine": machine(device, dtype),
        "build_s": round(build_s, 1),
        "warmup_s": round(warmup_s, 1),
        "strategies": summary,
        "ratios": ratios,
        "agreement_with_independent": agreement,
        "cached_features_mb": summary["batched"]["cache"]["feature_mb"],
        "memory_mb": {
            "peak_rss_before_model": round(rss_start, 1),
            "peak_rss_after_model": round(rss_model, 1),
            "peak_rss": round(peak_rss_mb(), 1),
            "rss_now": None if current_rss_mb() is None else round(current_rss_mb(), 1),
            "peak_gpu": round(torch.cuda.max_memory_allocated() / (1 << 20), 1) if device.startswith("cuda") else None,
        },
    }


def machine(device: str, dtype: torch.dtype) -> str:
    precision = str(dtype).removeprefix("torch.")
    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(device)}, {precision}, torch {torch.__version__}"
    return f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads, {precision}, torch {torch.__version__}"


def table(res: dict) -> str:
    k = len(res["phrases"])
    head = ("| strategy | calls | encoder calls | encode ms | text ms | prompt ms | post ms | other ms "
            "| total ms | per call ms | / independent |")
    lines = [head, "|" + "---|" * 11]
    a = res["strategies"]["independent"]["total_ms"]
    labels = {"independent": f"(a) {k} fresh sessions", "sequential": f"(b) 1 session, {k} calls",
              "batched": f"(c) 1 session, 1 call of {k}"}
    for name in STRATEGIES:
        s = res["strategies"][name]
        lines.append(f"| {labels[name]} | {s['calls']} | {s['encoder_calls']} | {s['encode_ms']:.1f} | "
                     f"{s['text_ms']:.1f} | {s['prompt_ms']:.1f} | {s['postprocess_ms']:.1f} | "
                     f"{s['other_ms']:.1f} | "
                     f"{s['total_ms']:.1f} | {s['per_call_ms']:.1f} | {s['total_ms'] / a:.3f} |")
    m = res["memory_mb"]
    r = res["ratios"]
    lines += [
        "",
        f"config `{res['config']}`: {res['params_m']} M params, input {res['input_px']} px, "
        f"image {res['image']} ({res['image_size'][0]}x{res['image_size'][1]}), k={k}, "
        f"repeats={res['repeats']}, {res['machine']} "
        f"(the median-total repeat is shown)",
        f"ratios: b/a = {r['sequential_over_independent']:.3f}, c/a = {r['batched_over_independent']:.3f}  "
        f"(per repeat: b/a {r['per_repeat']['sequential']}, c/a {r['per_repeat']['batched']}; "
        f"best-of-repeats: b/a {r['best_of_repeats']['sequential']}, c/a {r['best_of_repeats']['batched']})",
        f"score threshold {res['threshold']} (auto unless --threshold); image_key (content hash) "
        f"{res['image_key_ms']} ms per call, counted in 'other'",
        f"same answers as (a): b {res['agreement_with_independent']['sequential']}; "
        f"c {res['agreement_with_independent']['batched']}",
        f"peak RSS {m['peak_rss']:.0f} MB (after building the model {m['peak_rss_after_model']:.0f} MB); "
        f"cached vision features per session {res['cached_features_mb']} MB"
        + (f"; peak GPU memory {m['peak_gpu']:.0f} MB" if m.get("peak_gpu") is not None else ""),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", choices=["shapes", "mid", "full"], default="mid")
    ap.add_argument("--phrases", type=int, default=4, help="k, the number of phrases (default 4)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threshold", type=float, default=None,
                    help="score threshold; default: one that keeps about --per-phrase detections per phrase")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--per-phrase", type=int, default=5, help="detections per phrase for the auto threshold")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (a lent GPU machine)")
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], help="default: bfloat16 on CUDA, float32 on CPU")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)
    if args.phrases < 1 or args.repeats < 1:
        ap.error("--phrases and --repeats must be >= 1")
    dtype = getattr(torch, args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32"))
    res = benchmark(args.config, args.phrases, args.repeats, args.threshold, args.per_phrase, args.threads,
                    args.device, dtype)
    print()
    print(table(res))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
