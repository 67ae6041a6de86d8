"""Serving benchmark (issue 15 #4): the bundle's int8 predictor vs ``transformers.pipeline`` fp32, one process.

    python scripts/bench/serve_bench.py --bundle outputs/export/<name>          # real posts: HS1 + GermEval
    python scripts/bench/serve_bench.py --bundle <b> --texts data/demo/test.csv --rows 16 --repeats 1   # tiny

Both engines start from the same raw posts and go end to end: the dataset's normaliser (the one training
used, from the bundle's ``preprocess.json``), tokenisation, the model, softmax/sigmoid with the bundle's
temperature and its thresholds. The int8 side is :class:`trainer.serving.predictor.BundlePredictor`
(length-sorted micro-batches under a token budget); the baseline is what a deployer would write instead:
``transformers.pipeline("text-classification")`` on the fine-tuned fp32 model (torch) at ``batch_size=32``,
its logits taken raw (``function_to_apply="none"``) so the bundle's decision rule applies to both.

Posts: ``--rows`` from each real test set, mixed and shuffled with a fixed seed: HS1 (IndoBERTweet fold
``test0.csv``, latin-1, text column ``Tweet``) and GermEval 2026 c2a ``test.csv`` (semicolon, ``description``),
read from ``--datasets`` (default ``../shared/datasets``); or ``--texts FILE`` (a CSV with a ``text`` column).
Reports throughput (posts/s; median of ``--repeats`` passes, engines interleaved so background load hits
both alike), batch-1 p50/p95 latency, the share of posts with the same decision, the CPU's int8 flags
and the load average before and after. Writes JSON to ``--out`` (default ``outputs/bench/serve_bench.json``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))  # run from a checkout without installing

from trainer.data.normalize import normalize_text  # noqa: E402
from trainer.serving.bundle import Bundle  # noqa: E402
from trainer.serving.predictor import BundlePredictor, decide, scores_from_logits  # noqa: E402

FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
SOURCES = {  # name: (path under --datasets, encoding, delimiter, text column)
    "hs1": ("id_multilabel_hs/IndoBERTweet_hate_speech_HS1/test0.csv", "latin-1", ",", "Tweet"),
    "germeval_c2a": ("germeval_harmful/c2a/test.csv", "utf-8", ";", "description"),
}
TARGET_RATIO, TARGET_SAME = 3.0, 0.99


def cpu_info() -> dict[str, Any]:
    """Model name and the flags that decide int8 speed (AVX2 only vs AVX-512 VNNI / AMX)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    flags = set((re.findall(r"^flags\s*:\s*(.*)$", text, re.M) or [""])[0].split())
    model = (re.findall(r"^model name\s*:\s*(.*)$", text, re.M) or [platform.processor()])[0]
    present = [f for f in FLAGS if f in flags]
    vnni = any(f in flags for f in ("avx512_vnni", "amx_int8"))
    return {"model": model, "cores": os.cpu_count(), "flags": present, "class": "avx512_vnni/amx" if vnni else "avx2"}


def _read(path: Path, encoding: str, delimiter: str, column: str, rows: int) -> list[str]:
    with path.open(encoding=encoding, newline="") as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        if column not in (reader.fieldnames or []):
            raise SystemExit(f"{path}: no column {column!r} (columns: {reader.fieldnames})")
        texts = [row[column] for row in reader if row[column]]
    return random.Random(0).sample(texts, min(rows, len(texts)))


def load_posts(args: argparse.Namespace) -> dict[str, list[str]]:
    if args.texts:
        return {Path(args.texts).name: _read(Path(args.texts), "utf-8", ",", "text", args.rows)}
    posts = {}
    for name, (rel, encoding, delimiter, column) in SOURCES.items():
        path = Path(args.datasets) / rel
        if not path.is_file():
            raise SystemExit(f"{path} is missing: pass --datasets DIR, or --texts FILE for other posts")
        posts[name] = _read(path, encoding, delimiter, column, args.rows)
    return posts


class PipelineEngine:
    """``transformers.pipeline`` on the fp32 model, with the bundle's normaliser and decision rule."""

    def __init__(self, model_dir: Path, predictor: BundlePredictor, threads: int, batch_size: int) -> None:
        import torch
        from transformers import pipeline

        torch.set_num_threads(threads)
        self.predictor, self.batch_size = predictor, batch_size
        from transformers import AutoTokenizer

        from trainer.models.pooling import load_saved_classifier

        # The model with the head it was trained with: a model.pooling=mean folder is not the stock class.
        model = load_saved_classifier(model_dir).eval()
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.pipe = pipeline("text-classification", model=model, tokenizer=tokenizer, device=-1)
        self.names = [self.pipe.model.config.id2label[i] for i in range(self.pipe.model.config.num_labels)]

    def decisions(self, texts: Sequence[str]) -> np.ndarray:
        p = self.predictor
        normalised = [normalize_text(t, p.normalizer) for t in texts]
        out = self.pipe(
            normalised,
            batch_size=self.batch_size,
            top_k=None,
            function_to_apply="none",
            truncation=True,
            max_length=p.max_length,
        )
        logits = np.array([[{d["label"]: d["score"] for d in row}[n] for n in self.names] for row in out])
        return decide(scores_from_logits(logits, p.label_map.task, p.temperature), p.label_map, p.thresholds)


def int8_decisions(predictor: BundlePredictor) -> Callable[[Sequence[str]], np.ndarray]:
    def run(texts: Sequence[str]) -> np.ndarray:
        return decide(predictor.probabilities(texts), predictor.label_map, predictor.thresholds)

    return run


def throughput(engines: dict[str, Callable[[Sequence[str]], np.ndarray]], texts: list[str], repeats: int) -> dict:
    """Posts/s per engine: median of ``repeats`` passes over every post, engines interleaved."""
    seconds: dict[str, list[float]] = {name: [] for name in engines}
    decisions: dict[str, np.ndarray] = {}
    for _ in range(repeats):
        for name, run in engines.items():
            start = time.perf_counter()
            decisions[name] = run(texts)
            seconds[name].append(time.perf_counter() - start)
    return {
        "posts_per_s": {n: round(len(texts) / statistics.median(s), 2) for n, s in seconds.items()},
        "seconds": {n: [round(v, 3) for v in s] for n, s in seconds.items()},
        "decisions": decisions,
    }


def latency(engines: dict[str, Callable[[Sequence[str]], np.ndarray]], texts: list[str]) -> dict[str, dict]:
    """Batch-1 latency per engine (ms), one post at a time, after one warm-up call."""
    out = {}
    for name, run in engines.items():
        run(texts[:1])
        times = []
        for text in texts:
            start = time.perf_counter()
            run([text])
            times.append((time.perf_counter() - start) * 1000)
        p50, p95 = np.percentile(times, [50, 95])
        out[name] = {"p50_ms": round(float(p50), 2), "p95_ms": round(float(p95), 2), "posts": len(texts)}
    return out


def same_share(a: np.ndarray, b: np.ndarray) -> float:
    same = (a == b) if a.ndim == 1 else (a == b).all(axis=1)
    return float(same.mean())


def model_dir_of(bundle: Path, given: str | None) -> Path:
    """The fine-tuned transformers folder the bundle was exported from (its manifest names the run)."""
    if given:
        return Path(given)
    source = Bundle(bundle).manifest().get("source") or {}
    if source.get("run_dir"):
        return Path(source["run_dir"]) / "model"
    raise SystemExit(f"{bundle}: the manifest names no run folder; pass --model-dir <run>/model")


def token_lengths(predictor: BundlePredictor, texts: list[str]) -> dict[str, float]:
    lengths = [len(ids) for ids in predictor.encode(texts)]
    return {"mean": round(float(np.mean(lengths)), 1), "p50": float(np.median(lengths)), "max": max(lengths)}


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()
    posts = load_posts(args)
    texts = [t for group in posts.values() for t in group]
    random.Random(1).shuffle(texts)
    bundle = Path(args.bundle)
    predictor = BundlePredictor(bundle, args.precision, threads=args.threads, batch_size=args.batch_size)
    baseline = PipelineEngine(model_dir_of(bundle, args.model_dir), predictor, args.threads, args.batch_size)
    engines = {"int8_predictor": int8_decisions(predictor), "pipeline_fp32": baseline.decisions}
    measured = throughput(engines, texts, args.repeats)
    lat = latency(engines, texts[: args.latency_posts])
    rate = measured["posts_per_s"]
    ratio = rate["int8_predictor"] / rate["pipeline_fp32"]
    same = same_share(measured["decisions"]["int8_predictor"], measured["decisions"]["pipeline_fp32"])
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "bundle": str(bundle),
        "graph": predictor.model_path.name,
        "posts": {name: len(group) for name, group in posts.items()},
        "tokens": token_lengths(predictor, texts),
        "settings": {"threads": args.threads, "batch_size": args.batch_size, "max_tokens": predictor.max_tokens},
        "cpu": cpu_info(),
        "load_average": {"before": [round(v, 2) for v in load_before], "after": [round(v, 2) for v in os.getloadavg()]},
        "versions": _versions(),
        "throughput_posts_per_s": rate,
        "seconds_per_pass": measured["seconds"],
        "ratio": round(ratio, 2),
        "same_decisions": round(same, 4),
        "latency_batch_1": lat,
        "targets": {"ratio": TARGET_RATIO, "same_decisions": TARGET_SAME},
        "met": {"ratio": ratio >= TARGET_RATIO, "same_decisions": same >= TARGET_SAME},
    }


def _versions() -> dict[str, str]:
    from importlib import metadata

    return {n: metadata.version(n) for n in ("onnxruntime", "torch", "transformers", "tokenizers")}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", required=True, help="export bundle folder (python -m trainer.export)")
    parser.add_argument("--model-dir", default=None, help="fine-tuned transformers folder (default: from the manifest)")
    parser.add_argument("--precision", default="int8", help="the bundle graph to serve (default int8)")
    parser.add_argument("--datasets", default=str(ROOT.parent / "shared" / "datasets"))
    parser.add_argument("--texts", default=None, help="a CSV with a text column, instead of the real test sets")
    parser.add_argument("--rows", type=int, default=512, help="posts per source")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency-posts", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for both engines")
    parser.add_argument("--out", default=str(ROOT / "outputs" / "bench" / "serve_bench.json"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run_bench(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    rate, lat = report["throughput_posts_per_s"], report["latency_batch_1"]
    print(
        f"int8 predictor {rate['int8_predictor']} posts/s, pipeline fp32 {rate['pipeline_fp32']} posts/s: "
        f"{report['ratio']}x (target {TARGET_RATIO}x); same decisions {report['same_decisions']:.2%}; "
        f"batch-1 p50/p95 int8 {lat['int8_predictor']['p50_ms']}/{lat['int8_predictor']['p95_ms']} ms, "
        f"pipeline {lat['pipeline_fp32']['p50_ms']}/{lat['pipeline_fp32']['p95_ms']} ms; "
        f"cpu {report['cpu']['class']} {report['cpu']['flags']}; load {report['load_average']}; wrote {out}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
