"""How fast can a dynamic-int8 onnxruntime graph of this encoder be on this CPU? (issue 4's 2.5× target)

    python scripts/bench/int8_ceiling.py --bundle outputs/export/<bundle> --run outputs/train/runs/<run>

An upper bound, measured rather than argued. The bundle's int8 graph is run with onnxruntime's
profiler on the export benchmark's batches (same demo texts, same seed, batch 32), and every node's
kernel time is summed by op type. In the fused graph the int8 GEMMs live in two kernels:
``DynamicQuantizeMatMul`` (attention output, FFN up, FFN down; activation quantisation included) and
``QAttention`` (the fused QKV projection plus the attention itself). Any dynamic-int8 graph of this
model has to run that work on the same u8s8 GEMM kernels. The fp32 torch model is timed on the same
batches in the same process, interleaved with the int8 session. So

    ceiling = fp32 torch time / (int8 graph time x share of its kernel time in those two ops)

is the int8 speed-up over torch if layer norms, GELU, embeddings, residual adds, the classifier and
onnxruntime's own overhead all cost nothing. If it is below 2.5, the target cannot be met with
onnxruntime's int8 kernels on this CPU, whatever else the graph does. The fp32 ONNX graph is profiled
the same way, so the in-situ gain of the int8 GEMM kernels over the fp32 ones (``MatMul``/``Attention``)
is on record too. Writes ``docs/bench/int8_ceiling_<date>.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from export_bench import _batches, _throughput, demo_texts, result_header  # noqa: E402  (sibling script, not a package)

GEMM_OPS = {"int8 onnx": ("DynamicQuantizeMatMul", "QAttention"), "fp32 onnx": ("MatMul", "FusedMatMul", "Attention")}


def _kernel_ms_by_op(profile: Path, skip_runs: int, passes: int) -> dict[str, float]:
    """Kernel time per op type (ms per pass) from an onnxruntime profile, the first ``skip_runs`` calls excluded."""
    events = json.loads(profile.read_text())
    runs = sorted(e["ts"] for e in events if e.get("cat") == "Session" and e.get("name") == "model_run")
    first_timed = runs[skip_runs]
    totals: dict[str, float] = defaultdict(float)
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time") and e["ts"] >= first_timed:
            totals[e["args"]["op_name"]] += e["dur"] / 1000 / passes
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, required=True, help="export bundle (python -m trainer.export ...)")
    parser.add_argument("--run", type=Path, required=True, help="the run folder the bundle was exported from")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=ROOT / "docs/bench")
    args = parser.parse_args()

    import onnxruntime as ort
    import torch
    from transformers import AutoModelForSequenceClassification

    from trainer.runs.folder import RunFolder
    from trainer.serving.precisions import FP32, PRECISIONS
    from trainer.serving.predictor import BundlePredictor

    load_before = os.getloadavg()
    bundle, run = args.bundle.resolve(), args.run.resolve()
    predictor = BundlePredictor(bundle, "int8", threads=args.threads)
    ids = predictor.encode(demo_texts())
    feeds = [
        predictor.feeds([ids[i] for i in batch]) for batch in _batches(len(ids), args.batch_size, args.batches, seed=0)
    ]  # export_bench's batches
    rows = sum(len(f["input_ids"]) for f in feeds)

    torch.set_num_threads(args.threads)
    model = AutoModelForSequenceClassification.from_pretrained(RunFolder(run).model_dir).eval()
    work = Path(tempfile.mkdtemp(prefix="int8_ceiling_"))

    def session(file: str, profile: str | None) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        if profile:
            options.enable_profiling = True
            options.profile_file_prefix = str(work / profile)
        return ort.InferenceSession(str(bundle / file), options, providers=["CPUExecutionProvider"])

    files = {"int8 onnx": PRECISIONS["int8"].graph, "fp32 onnx": FP32.graph}
    plain = {name: session(file, None) for name, file in files.items()}

    def torch_run(f: dict[str, np.ndarray]) -> Any:
        with torch.inference_mode():
            return model(**{k: torch.from_numpy(v) for k, v in f.items()}).logits

    def onnx_pass(s: ort.InferenceSession) -> None:
        for f in feeds:
            s.run(["logits"], f)

    # Wall time: unprofiled sessions, interleaved with torch exactly as the export benchmark times them.
    engines = {"fp32 torch": torch_run} | {name: (lambda f, s=s: s.run(["logits"], f)) for name, s in plain.items()}
    throughput = _throughput(engines, feeds, args.passes)
    wall_ms = {name: 1000 * rows / v["rows_per_s"] for name, v in throughput.items()}
    # Kernel times: the same passes again in profiled sessions (profiling adds its own overhead to wall time).
    kernels = {}
    for name, file in files.items():
        profiled = session(file, name.replace(" ", "_"))
        for _ in range(args.passes + 1):
            onnx_pass(profiled)
        kernels[name] = _kernel_ms_by_op(Path(profiled.end_profiling()), skip_runs=len(feeds), passes=args.passes)
    gemm_ms = {name: sum(kernels[name].get(op, 0.0) for op in ops) for name, ops in GEMM_OPS.items()}
    # Profiling slows every node a little, so take the GEMM kernels' *share* from the profile and apply it to
    # the unprofiled wall time: the time the int8 graph would take if everything else were free.
    gemm_share = {name: gemm_ms[name] / sum(kernels[name].values()) for name in GEMM_OPS}
    result = {
        **result_header("int8_ceiling.py", run, bundle, args.threads, load_before),
        "versions": {"torch": torch.__version__, "onnxruntime": ort.__version__},
        "inputs": {
            "rows_per_pass": rows,
            "padded_width_per_batch": [int(f["input_ids"].shape[1]) for f in feeds],
            "passes": args.passes,
        },
        "wall_ms_per_pass": wall_ms,
        "kernel_ms_per_pass_by_op": kernels,
        "gemm_kernel_ms_per_pass": gemm_ms,
        "gemm_share_of_kernel_time": gemm_share,
        "gemm_ops": {k: list(v) for k, v in GEMM_OPS.items()},
        "measured_speedup_vs_torch": {k: wall_ms["fp32 torch"] / v for k, v in wall_ms.items()},
        "int8_gemm_kernels_vs_fp32_onnx": gemm_ms["fp32 onnx"] / gemm_ms["int8 onnx"],
        "ceiling_vs_torch": wall_ms["fp32 torch"] / (wall_ms["int8 onnx"] * gemm_share["int8 onnx"]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"int8_ceiling_{datetime.now(UTC):%Y-%m-%d}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result, path))


def markdown(r: dict[str, Any], path: Path) -> str:
    m, w, k = r["machine"], r["wall_ms_per_pass"], r["kernel_ms_per_pass_by_op"]
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    lines = [
        f"`{r['command']}` — {r['date'][:10]}, {m['cpu']} ({m['cores']} cores, int8-relevant CPU flags: "
        f"{', '.join(m.get('int8_flags') or ['none'])}; {m['threads']} threads), load "
        f"average {m['load_avg_before'][0]:.1f} before / {m['load_avg_after'][0]:.1f} after; torch "
        f"{r['versions']['torch']}, onnxruntime {r['versions']['onnxruntime']}. One pass = "
        f"{r['inputs']['rows_per_pass']} demo rows in batches of 32 (padded widths "
        f"{r['inputs']['padded_width_per_batch']}); medians of {r['inputs']['passes']} interleaved passes. "
        f"Raw: `{rel}`.",
        "",
        "| engine | wall ms per pass | × fp32 torch | GEMM kernels, profiled ms (ops) | other kernels, profiled ms "
        "| GEMM share |",
        "|---|---|---|---|---|---|",
        f"| fp32 torch | {w['fp32 torch']:.0f} | 1.00 | | | |",
    ]
    for name in ("fp32 onnx", "int8 onnx"):
        gemm = r["gemm_kernel_ms_per_pass"][name]
        lines.append(
            f"| {name} | {w[name]:.0f} | {r['measured_speedup_vs_torch'][name]:.2f} | {gemm:.0f} "
            f"({' + '.join(r['gemm_ops'][name])}) | {sum(k[name].values()) - gemm:.0f} | "
            f"{100 * r['gemm_share_of_kernel_time'][name]:.0f}% |"
        )
    top = ", ".join(f"{op} {ms:.0f}" for op, ms in list(k["int8 onnx"].items())[:6])
    lines += [
        "",
        f"int8 kernel time by op (ms per pass): {top}.",
        "",
        f"**Ceiling = fp32 torch / (int8 wall time × GEMM share) = {r['ceiling_vs_torch']:.2f}×**: the int8 "
        f"speed-up if everything but its GEMM kernels were free; the int8 GEMM kernels are {r['int8_gemm_kernels_vs_fp32_onnx']:.2f}× "
        f"onnxruntime's fp32 ones in the same graph position.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
