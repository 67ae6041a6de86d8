"""Training throughput (issue 12): this framework's training path vs Hugging Face ``Trainer``, one process.

    python scripts/bench/train_throughput.py                                  # me5_small, 2,048 HS1 rows, CPU
    python scripts/bench/train_throughput.py --variants levers                # + every lever, side by side
    python scripts/bench/train_throughput.py --tiny                           # model=tiny, a few dozen rows
    python scripts/bench/train_throughput.py --device cuda --model xlmr_base --batch-size 64 --rows 8192

Both sides train the same rows (``configs/data/id_hs1.yaml``'s fold-0 training texts, normalised as a run
normalises them; the bundled demo data when the HS1 folder is absent, said so in the JSON) with the same
tokenizer, model folder, batch size, learning rate, schedule, clipping and torch thread count:

- ``hf_default``: ``transformers.Trainer`` as ``run_classification.py`` runs it (every row padded to max_length).
- ``hf_best``: ``group_by_length=True`` and ``DataCollatorWithPadding(pad_to_multiple_of=8|16)``, bf16 on GPU.
- ``fw_*``: the framework itself: ``TextDataModule`` + ``ClassifierModule`` + ``pl.Trainer`` built by
  ``trainer.training.fit`` from the composed shipped configs (``trainer.config.compose`` + ``TrainSettings``);
  each variant is a list of Hydra overrides (see ``VARIANTS``). Validation and checkpoints are off: the
  timed loop is the training loop.

Per variant: useful (non-pad) and processed tokens/s and samples/s after warm-up (the first ``--warmup-steps``
steps are excluded; timings are the intervals between consecutive step ends, so data loading, logging and the
optimiser count), padding share, mean batch size, median step time, peak RSS (CPU; the kernel's high-water
mark reset before each variant) or peak CUDA memory, and on GPU the MFU on useful tokens (6 x non-embedding
parameters x tokens/s / the assumed peak). Writes JSON to ``outputs/bench/`` (or ``--out``) and appends a row
to ``docs/bench_train_throughput.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from export_bench import result_header  # noqa: E402  (sibling script, not a package)
from throughput.sides import (  # noqa: E402
    base_overrides,
    compose_settings,
    data_source,
    flops_per_token,
    peak_flops,
    random_hub_model,
    run_framework,
    run_hf,
)
from throughput.steps import median_run, peak_memory, ratios, reset_peak_memory, summarise  # noqa: E402
from throughput.variants import CORE, VARIANTS, select_variants, solve_max_tokens, variant_overrides  # noqa: E402

DOCS = ROOT / "docs/bench_train_throughput.md"
__all__ = ["main", "solve_max_tokens"]


# -- one variant, the report ---------------------------------------------------------------------------
def run_variant(name: str, args: argparse.Namespace, base: list[str], budgets: dict[Any, int], ctx: dict) -> dict:
    import torch

    cuda = args.device == "cuda"
    side = VARIANTS[name][0]
    overrides = variant_overrides(name, args, base, budgets)
    load = os.getloadavg()
    reset_peak_memory(cuda)
    cpu0 = time.process_time()
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as work:
        if side == "hf":
            pad = 16 if cuda else 8
            dynamic = "pad=dynamic" in overrides
            log, extra = run_hf(ctx["settings"], ctx["data"], dynamic, pad, cuda, Path(work), "bf16" in overrides)
            config = {"hf": VARIANTS[name][1], "pad_to_multiple_of": pad if dynamic else None}
        else:
            fw = [o for o in overrides if o != "compile"]
            log, extra = run_framework(fw, "compile" in overrides, cuda, Path(work))
            config = {"overrides": fw[len(base) :], "compile": "compile" in overrides}
    result = {"side": side, **config, **summarise(log, args.warmup_steps, time.process_time() - cpu0)}
    result.update(**peak_memory(cuda), **extra, load_avg_before=load, load_avg_after=os.getloadavg())
    if ctx.get("peak"):
        result["mfu_useful"] = ctx["flops_per_token"] * result["useful_tokens_per_s"] / ctx["peak"]
        result["mfu_processed"] = ctx["flops_per_token"] * result["processed_tokens_per_s"] / ctx["peak"]
    torch.cuda.empty_cache() if cuda else None
    return result


def profiled(fn: Any, path: Path | None) -> Any:
    """``fn`` itself, or ``fn`` under cProfile writing the top functions (own time, then cumulative) to ``path``."""
    if path is None:
        return fn

    def wrapper(*args: Any) -> Any:
        import cProfile
        import io
        import pstats

        profile = cProfile.Profile()
        result = profile.runcall(fn, *args)
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(40)
        pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(60)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.getvalue())
        return result

    return wrapper


def append_docs(path: Path, report: dict) -> None:
    """One table row per run: command, machine, date, and the useful-tokens/s ratios."""
    res = report["results"]
    best = max((n for n in res if res[n]["side"] == "fw"), key=lambda n: res[n]["useful_tokens_per_s"], default=None)
    cells = [
        report["date"][:10],
        f"`{report['command']}`",
        f"{report['machine']['cpu']}, {report['machine']['threads']} threads, {report['device']}",
        report["model"],
        f"{report['rows']} rows, {report['data']['name']}",
        ", ".join(f"{n} {r['useful_tokens_per_s']:.0f}" for n, r in res.items()),
        ", ".join(f"{k} {v:.2f}x" for k, v in report["ratios"].items() if k.startswith(("fw_bucket/", str(best)))),
    ]
    table = "| date | command | machine | model | data | useful tok/s per variant | ratios |\n|---|---|---|---|---|---|---|\n"
    if not path.is_file():
        path.write_text(
            "# Training throughput: framework vs HF Trainer (scripts/bench/train_throughput.py)\n\n"
            "Useful (non-pad) tokens/s after warm-up; ratios are framework / HF on useful tokens/s.\n\n"
        )
    if table not in path.read_text():
        with path.open("a") as fh:
            fh.write("\n" + table)
    with path.open("a") as fh:
        fh.write("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=2048, help="training rows (data.max_samples.train)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument(
        "--variants", default="core", help=f"comma list, 'core' ({','.join(CORE)}), 'levers', 'shipped_levers' or 'all'"
    )
    p.add_argument("--model", default="me5_small", help="configs/model/<name>")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (both sides)")
    p.add_argument("--warmup-steps", type=int, default=5, help="first steps excluded from the rates")
    p.add_argument("--tiny", action="store_true", help="model=tiny, 64 rows, batch 8: seconds (the test)")
    p.add_argument("--demo", action="store_true", help="the bundled demo data even when HS1 is present")
    p.add_argument("--peak-tflops", type=float, default=None, help="accelerator peak for MFU")
    p.add_argument("--out", type=Path, default=None, help="JSON path (default outputs/bench/train_<date>.json)")
    p.add_argument("--docs", type=Path, default=DOCS, help="markdown file to append a row to")
    p.add_argument("--no-docs", action="store_true")
    p.add_argument("--repeats", type=int, default=1, help="rounds of every variant (alternating order); medians")
    p.add_argument("--profile", action="store_true", help="cProfile each variant: <out>.<variant>.prof.txt")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides for every framework/HF variant")
    args = p.parse_args(argv)
    if args.tiny:
        args.model, args.rows, args.batch_size = "tiny", min(args.rows, 64), min(args.batch_size, 8)
    args.model_dir = None
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the GPU machine reaches no hub
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    names = select_variants(args.variants)
    load_before = os.getloadavg()
    data_name, data_note = data_source(args)
    probe = compose_settings(base_overrides(args, data_name))
    if probe.model.source == "hub" and not (probe.model.name_or_path and Path(probe.model.name_or_path).is_dir()):
        args.model_dir = random_hub_model(args.model, probe.cache_dir)
    base = base_overrides(args, data_name)
    settings = compose_settings(base)

    from trainer.data import prepare_data

    data = prepare_data(settings.data)
    from trainer.models.sources import load_classifier

    tok = load_classifier(settings.model, data.label_map, settings.cache_dir).tokenizer
    enc = tok([e.text for e in data.splits["train"]], truncation=True, max_length=settings.model.max_length)
    lengths = [len(ids) for ids in enc["input_ids"]]
    budgets, mean_sizes = {}, {}
    for pad in (1, 8, 16):
        budgets[pad], mean_sizes[pad] = solve_max_tokens(lengths, pad, args.batch_size)
        for key, rows in (("half", max(1, args.batch_size // 2)), ("double", 2 * args.batch_size)):
            budgets[(pad, key)], _ = solve_max_tokens(lengths, pad, rows)
    peak, peak_note = peak_flops(args)
    ctx = {"settings": settings, "data": data, "peak": peak}
    if peak:
        ctx["flops_per_token"] = flops_per_token(settings, data)
    out = args.out or ROOT / "outputs/bench" / f"train_{time.strftime('%Y-%m-%dT%H%M%S')}.json"
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for round_ in range(args.repeats):
        # Rounds alternate the order (A B, B A, ...), so a drifting background load hits every variant alike.
        for name in names if round_ % 2 == 0 else names[::-1]:
            print(f"== {name} (round {round_ + 1}/{args.repeats})", flush=True)
            prof = out.with_suffix(f".{name}.prof.txt") if args.profile else None
            runs[name].append(profiled(run_variant, prof)(name, args, base, budgets, ctx))
            print(json.dumps({name: runs[name][-1]}, indent=1, default=str), flush=True)
    results = {name: median_run(r) for name, r in runs.items()}
    header = result_header(
        "train_throughput.py", Path(data_note), Path(str(settings.model.name)), args.threads, load_before
    )
    header.pop("run"), header.pop("bundle")
    report = {
        **header,
        "device": args.device if args.device == "cpu" else f"cuda ({torch.cuda.get_device_name()})",
        "model": args.model + (f" (random init, {args.model_dir}: no hub offline)" if args.model_dir else ""),
        "data": {"name": data_name, "source": data_note, "demo_fallback": data_name == "demo" and not args.demo},
        "rows": len(lengths),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "token_lengths": {
            "mean": statistics.fmean(lengths),
            "p99": sorted(lengths)[int(0.99 * (len(lengths) - 1))],
            "max": max(lengths),
        },
        "max_tokens_auto": {str(k): {"max_tokens": budgets[k], "mean_batch_size": v} for k, v in mean_sizes.items()},
        "peak_flops": peak_note,
        "flops_per_token": ctx.get("flops_per_token"),
        "base_overrides": base,
        "results": results,
        "ratios": ratios(results),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    if not args.no_docs:
        append_docs(args.docs, report)
    print(json.dumps(report["ratios"], indent=1), f"\nwrote {out}", flush=True)
    return report


if __name__ == "__main__":
    main()
