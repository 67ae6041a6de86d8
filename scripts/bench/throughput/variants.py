"""The benchmark's variants: each a side (``hf`` or ``fw``) and its Hydra overrides or HF options."""

from __future__ import annotations

import argparse
from typing import Any

# Length buckets under a token budget solved for --batch-size (the first round's lever, fw_bucket*).
_BUCKET = ["loader.batching=length_bucket", "loader.pad_to_multiple_of={pad}", "loader.max_tokens=auto"]
# The shipped winners (configs/loader/bucketed.yaml, configs/module/fused_cpu.yaml; the module on CPU only).
_SHIPPED = ["loader=bucketed", "module=fused_cpu"]
# trainer=cpu_bf16's setting, spelled as an override so that --device cuda keeps trainer=gpu.
_SHIPPED_BF16 = ["loader=bucketed", "module=fused", "trainer.precision=bf16-mixed"]

# name -> (side, Hydra overrides or HF options). "{pad}" is the device's pad multiple, "{budget}" the solved budget.
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "hf_default": ("hf", ["pad=max_length"]),
    "hf_best": ("hf", ["pad=dynamic"]),
    "fw_random": ("fw", []),
    "fw_bucket": ("fw", _BUCKET),
    "fw_bucket_pad1": (
        "fw",
        ["loader.batching=length_bucket", "loader.pad_to_multiple_of=1", "loader.max_tokens=auto"],
    ),
    # Levers, measured next to fw_bucket (each changes one thing):
    "fw_bucket_rows": ("fw", ["loader.batching=length_bucket", "loader.pad_to_multiple_of={pad}"]),
    "fw_bucket_workers1": (
        "fw",
        _BUCKET + ["loader.num_workers=1"],
    ),
    "fw_bucket_quiet": (
        "fw",
        _BUCKET + ["trainer.enable_progress_bar=false", "trainer.log_every_n_steps=1000"],
    ),
    "fw_bucket_fused": (
        "fw",
        _BUCKET + ["module.optimizer.foreach=false", "+module.optimizer.fused=true"],
    ),
    "fw_bucket_compile": (
        "fw",
        [*_BUCKET, "compile"],
    ),
    # bf16 autocast on CPU (AMX/AVX512-bf16 parts); not the fp32 comparison, reported beside it.
    "hf_best_bf16": ("hf", ["pad=dynamic", "bf16"]),
    "fw_bucket_bf16": (
        "fw",
        _BUCKET + ["trainer.precision=bf16-mixed"],
    ),
    "fw_shipped": ("fw", _SHIPPED),
    # Levers next to fw_shipped (each changes one thing):
    "fw_shipped_pad1": (
        "fw",
        [*_SHIPPED, "loader.pad_to_multiple_of=1", "loader.max_tokens=auto"],
    ),
    "fw_shipped_quiet": (
        "fw",
        [*_SHIPPED, "trainer.enable_progress_bar=false", "trainer.log_every_n_steps=1000"],
    ),
    "fw_shipped_foreach": ("fw", ["loader=bucketed"]),  # the same without the fused kernel
    "fw_shipped_workers1": ("fw", [*_SHIPPED, "loader.num_workers=1"]),
    "fw_shipped_compile": ("fw", [*_SHIPPED, "compile"]),
    # Token budgets for a mean batch of half and twice --batch-size: not the same optimisation as HF's, shown for cost.
    "fw_shipped_budget_half": ("fw", [*_SHIPPED, "loader.max_tokens=budget_half"]),
    "fw_shipped_budget_double": ("fw", [*_SHIPPED, "loader.max_tokens=budget_double"]),
    "fw_shipped_bf16": ("fw", _SHIPPED_BF16),
    # 32 rows of similar length per batch (no token budget): HF's batch shapes, tighter buckets.
    "fw_rows_bf16": (
        "fw",
        [*_SHIPPED_BF16, "loader.max_tokens=null"],
    ),
    "fw_shipped_bf16_pad1": (
        "fw",
        [
            *_SHIPPED_BF16,
            "loader.pad_to_multiple_of=1",
            "loader.max_tokens=auto1",
        ],
    ),
    "fw_shipped_bf16_compile": (
        "fw",
        [*_SHIPPED_BF16, "compile"],
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


def select_variants(spec: str) -> list[str]:
    groups = {"core": CORE, "levers": CORE + LEVERS, "shipped_levers": SHIPPED_LEVERS, "all": list(VARIANTS)}
    names = [n for part in spec.split(",") for n in groups.get(part, [part])]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"--variants: unknown {unknown}; known: {sorted(VARIANTS)} or core/levers/all")
    return list(dict.fromkeys(names))


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
