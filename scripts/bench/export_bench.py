"""Export benchmark (issue 4): fp32 torch vs fp32 ONNX vs int8 ONNX on tweet-length batches, one process.

    python scripts/bench/export_bench.py                                  # newest me5_small demo run
    python scripts/bench/export_bench.py --run outputs/train/runs/<run> quantization.per_channel=true
    python scripts/bench/export_bench.py --bundle outputs/export/<name>   # benchmark an existing bundle

Trailing ``key=value`` arguments are Hydra overrides for ``configs/export.yaml`` (the knobs to try).
Measures batch-32 throughput (median of ``--repeats`` passes over the same batches, engines
interleaved so background load hits all three alike), p50/p95 latency at batch 1, file sizes, and
reads the int8 accuracy deltas per language from the bundle's gate report. Batches are real demo
texts sampled with a fixed seed, so their token lengths are the data's. Writes
``docs/bench/export_<date>.json``, prints a markdown table, and with ``--write-docs`` replaces the
``## Export (issue 4)`` section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Export (issue 4)"


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration, subprocess.TimeoutExpired):
        return platform.processor() or "unknown"


INT8_FLAGS = ("avx2", "avx512_vnni", "avx_vnni", "amx_int8", "i8mm", "asimddp")


def int8_cpu_flags() -> list[str]:
    """The CPU features that decide how fast int8 dot products are (x86 VNNI/AMX, ARM dot product/i8mm)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    found = re.findall(r"^(?:flags|Features)\s*:\s*(.*)$", text, re.M)
    flags = set(found[0].split()) if found else set()
    return [f for f in INT8_FLAGS if f in flags]


LATENCY_ROUNDS = 5  # batch-1 blocks; the engines' order rotates between them


def machine_info(threads: int, load_before: tuple[float, float, float]) -> dict[str, Any]:
    """What a result depends on besides the code: CPU, its int8 instructions, threads, load around the run."""
    return {
        "cpu": _cpu_model(),
        "int8_flags": int8_cpu_flags(),
        "cores": os.cpu_count(),
        "threads": threads,
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg(),
        "platform": platform.platform(),
    }


def result_header(
    script: str, run: Path, bundle: Path, threads: int, load_before: tuple[float, float, float]
) -> dict[str, Any]:
    """The first keys of a benchmark's JSON: when, on what, by which command, on which machine."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "run": str(run),
        "bundle": str(bundle),
        "command": " ".join([f"python scripts/bench/{script}", *sys.argv[1:]]),
        "machine": machine_info(threads, load_before),
    }


def _newest_demo_run() -> Path:
    runs = sorted((ROOT / "outputs/train/runs").glob("*me5_small*demo*"), key=lambda p: p.stat().st_mtime)
    from trainer.runs.folder import RunFolder

    runs = [r for r in runs if (RunFolder(r).model_dir / "config.json").is_file() and not RunFolder(r).missing()]
    if not runs:
        sys.exit(
            "no finished me5_small demo run under outputs/train/runs: "
            "python -m trainer.train experiment=demo tracking=none"
        )
    return runs[-1]


def _export(run: Path, overrides: list[str]) -> Path:
    from trainer.config import compose

    out = ROOT / "outputs/export" / f"bench-{run.name}"
    # The real command line, so the bundle is exactly what a user would get with these overrides.
    cmd = [sys.executable, "-m", "trainer.export", f"source={run}", f"out_dir={out}", "overwrite=true", *overrides]
    compose("export", cmd[3:])  # fail fast on a typo before minutes of export
    print("$", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)
    return out


def demo_texts() -> list[str]:
    """Every demo text (train, validation, test), in file order: the benchmarks' inputs."""
    texts = []
    for split in ("train", "validation", "test"):
        with (ROOT / "data/demo" / f"{split}.csv").open(encoding="utf-8", newline="") as fh:
            texts += [row["text"] for row in csv.DictReader(fh)]
    return texts


def _batches(rows: int, batch: int, n: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    return [rng.sample(range(rows), batch) for _ in range(n)]


def _throughput(engines: dict[str, Any], feeds: list[dict[str, np.ndarray]], repeats: int) -> dict[str, Any]:
    rows = sum(len(f["input_ids"]) for f in feeds)
    for run in engines.values():  # warm-up: allocations, kernel selection
        run(feeds[0])
    samples: dict[str, list[float]] = {name: [] for name in engines}
    cpu: dict[str, list[float]] = {name: [] for name in engines}
    names = list(engines)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate who goes first
            start, start_cpu = time.perf_counter(), time.process_time()
            for f in feeds:
                engines[name](f)
            samples[name].append(rows / (time.perf_counter() - start))
            # Rows per CPU-second of this process: a second view that other jobs' load does not inflate.
            cpu[name].append(rows / (time.process_time() - start_cpu))
    return {
        name: {
            "rows_per_s": float(np.median(v)),
            "rows_per_cpu_s": float(np.median(cpu[name])),
            "samples": [round(x, 2) for x in v],
        }
        for name, v in samples.items()
    }


def _latency(
    engines: dict[str, Any], singles: list[dict[str, np.ndarray]], rounds: int = LATENCY_ROUNDS
) -> dict[str, Any]:
    """Batch-1 calls in blocks, engines rotating between blocks like the throughput passes.

    Blocks rather than strict per-call alternation: torch's OpenMP workers and onnxruntime's pool keep
    spinning for a moment after a call, which would otherwise slow whichever engine runs next.
    """
    ms: dict[str, list[float]] = {name: [] for name in engines}
    names = list(engines)
    for run in engines.values():
        run(singles[0])
    for r in range(rounds):
        block = singles[r::rounds]
        for name in names[r % len(names) :] + names[: r % len(names)]:
            engines[name](block[0])  # absorbs the previous engine's spinning threads
            for f in block:
                start = time.perf_counter()
                engines[name](f)
                ms[name].append(1000 * (time.perf_counter() - start))
    return {
        name: {"p50_ms": float(np.percentile(v, 50)), "p95_ms": float(np.percentile(v, 95)), "calls": len(v)}
        for name, v in ms.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, help="run folder (default: newest me5_small demo run)")
    parser.add_argument("--bundle", type=Path, help="benchmark this bundle instead of exporting")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=6, help="distinct batches per pass")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--latency-calls", type=int, default=100)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=ROOT / "docs/bench")
    parser.add_argument("--write-docs", action="store_true", help=f"replace '{SECTION}' in docs/benchmarks.md")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for configs/export.yaml")
    args = parser.parse_args()
    if args.latency_calls < LATENCY_ROUNDS:
        parser.error(f"--latency-calls must be >= {LATENCY_ROUNDS} (one block per rotation), got {args.latency_calls}")

    import onnxruntime as ort
    import torch
    from transformers import AutoModelForSequenceClassification

    from trainer.runs.folder import RunFolder
    from trainer.serving.bundle import Bundle, graph_bytes
    from trainer.serving.precisions import FP32, PRECISIONS
    from trainer.serving.predictor import BundlePredictor

    load_before = os.getloadavg()
    run = (args.run or _newest_demo_run()).resolve()
    bundle = args.bundle.resolve() if args.bundle else _export(run, args.overrides)
    manifest = Bundle(bundle).manifest()
    gate = Bundle(bundle).metrics()["gates"]["accuracy"]

    # Inputs: the demo texts (all splits), normalised and tokenised exactly as the bundle serves them.
    int8 = BundlePredictor(bundle, "int8", threads=args.threads)
    fp32 = BundlePredictor(bundle, "fp32", threads=args.threads)
    ids = int8.encode(demo_texts())
    lengths = np.array([len(x) for x in ids])
    picks = _batches(len(ids), args.batch_size, args.batches, seed=0)
    feeds = [int8.feeds([ids[i] for i in batch]) for batch in picks]
    singles = [int8.feeds([ids[i]]) for i in random.Random(1).sample(range(len(ids)), args.latency_calls)]

    torch.set_num_threads(args.threads)  # same core budget for every engine
    model = AutoModelForSequenceClassification.from_pretrained(RunFolder(run).model_dir).eval()

    def torch_run(f: dict[str, np.ndarray]) -> Any:
        with torch.inference_mode():
            return model(**{k: torch.from_numpy(v) for k, v in f.items()}).logits

    def session_run(session: ort.InferenceSession) -> Any:
        return lambda f: session.run(["logits"], f)

    engines = {"fp32 torch": torch_run, "fp32 onnx": session_run(fp32.session), "int8 onnx": session_run(int8.session)}
    throughput = _throughput(engines, feeds, args.repeats)
    latency = _latency(engines, singles)
    sizes = {
        "fp32 torch": RunFolder(run).model_weight_bytes(),
        "fp32 onnx": graph_bytes(manifest["files"], FP32),
        "int8 onnx": graph_bytes(manifest["files"], PRECISIONS["int8"]),
    }
    base = throughput["fp32 torch"]["rows_per_s"]
    result = {
        **result_header("export_bench.py", run, bundle, args.threads, load_before),
        "versions": {k: manifest["versions"].get(k) for k in ("torch", "onnxruntime", "onnx", "transformers")},
        "export": {k: manifest.get(k) for k in ("exporter", "opset")}
        | {
            "quantization": {
                k: manifest["quantization"].get(k)
                for k in (
                    "mode",
                    "weight_type",
                    "per_channel",
                    "reduce_range",
                    "optimize",
                    "op_types_to_quantize",
                    "modules_to_exclude",
                )
            }
        },
        "inputs": {
            "batch_size": args.batch_size,
            "batches": args.batches,
            "repeats": args.repeats,
            "token_length": {
                "mean": float(lengths.mean()),
                "p50": float(np.median(lengths)),
                "p95": float(np.percentile(lengths, 95)),
                "max": int(lengths.max()),
            },
            "padded_width_per_batch": [int(f["input_ids"].shape[1]) for f in feeds],
        },
        "throughput": throughput,
        "speedup_vs_torch": {k: v["rows_per_s"] / base for k, v in throughput.items()},
        "latency_batch1": latency,
        "bytes": sizes,
        "int8_size_vs_fp32_onnx": sizes["int8 onnx"] / sizes["fp32 onnx"],
        "accuracy": gate,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"export_{datetime.now(UTC):%Y-%m-%d}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(result, path)
    print(table)
    if args.write_docs:
        _write_docs(ROOT / "docs/benchmarks.md", table)


def markdown(r: dict[str, Any], json_path: Path) -> str:
    m, q, t = r["machine"], r["export"]["quantization"], r["inputs"]["token_length"]
    lines = [
        SECTION,
        "",
        f"`{r['command']}` — {r['date'][:10]}, {m['cpu']} ({m['cores']} cores, int8-relevant CPU flags: "
        f"{', '.join(m.get('int8_flags') or ['none'])}; {m['threads']} threads for "
        f"every engine), load average {m['load_avg_before'][0]:.1f} before / {m['load_avg_after'][0]:.1f} "
        f"after; torch {r['versions']['torch']}, onnxruntime {r['versions']['onnxruntime']}. "
        f"Raw numbers: `{json_path.relative_to(ROOT) if json_path.is_relative_to(ROOT) else json_path}`.",
        "",
        f"Run `{Path(r['run']).name}`; exporter {r['export']['exporter']}, opset {r['export']['opset']}; "
        f"quantization {q['mode']} ({q['weight_type']}, per_channel={q['per_channel']}, "
        f"reduce_range={q['reduce_range']}, optimize={q['optimize']}). Batches of {r['inputs']['batch_size']} "
        f"demo texts (tokens: mean {t['mean']:.0f}, p50 {t['p50']:.0f}, p95 {t['p95']:.0f}; padded widths "
        f"{r['inputs']['padded_width_per_batch']}), median of {r['inputs']['repeats']} passes.",
        "",
        "| engine | batch-32 rows/s | × fp32 torch | rows per CPU-s | × fp32 torch (CPU-s) | "
        "p50 ms (batch 1) | p95 ms (batch 1) | file MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    cpu_base = r["throughput"]["fp32 torch"]["rows_per_cpu_s"]
    for name, v in r["throughput"].items():
        lat = r["latency_batch1"][name]
        lines.append(
            f"| {name} | {v['rows_per_s']:.1f} | {r['speedup_vs_torch'][name]:.2f} | "
            f"{v['rows_per_cpu_s']:.1f} | {v['rows_per_cpu_s'] / cpu_base:.2f} | {lat['p50_ms']:.1f} | "
            f"{lat['p95_ms']:.1f} | {r['bytes'][name] / 1e6:.0f} |"
        )
    speed, size = r["speedup_vs_torch"]["int8 onnx"], r["int8_size_vs_fp32_onnx"]
    lines += [
        "",
        f"Targets: int8 throughput ≥ 2.5× fp32 torch — **{speed:.2f}×** "
        f"({'met' if speed >= 2.5 else 'missed'}); int8 file ≤ 30% of fp32 ONNX — **{100 * size:.0f}%** "
        f"({'met' if size <= 0.30 else 'missed'}).",
        "",
    ]
    a = r["accuracy"]
    lines += [
        f"int8 vs fp32 ONNX on validation, {a['metric']} in points (gate: overall drop ≤ "
        f"{a['max_drop_overall']}, per language ≤ {a['max_drop_per_language']} when n ≥ {a['min_language_rows']}):",
        "",
        "| language | n | fp32 | int8 | drop |",
        "|---|---|---|---|---|",
    ]
    o = a["overall"]
    lines.append(f"| all | | {o['fp32']:.2f} | {o['quantized']:.2f} | {o['drop']:.2f} |")
    for lang, v in a["per_language"].items():
        lines.append(f"| {lang} | {v['n']} | {v['fp32']:.2f} | {v['quantized']:.2f} | {v['drop']:.2f} |")
    return "\n".join(lines) + "\n"


def _write_docs(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


if __name__ == "__main__":
    main()
