"""Scoring after fit: rows in row order against longest first (``TextDataModule.eval_loader``), side by side.

    python scripts/bench/eval_order.py                          # germeval_c2a test split, me5_small, 512 tokens
    python scripts/bench/eval_order.py data=demo model=tiny --rows 64 --repeats 1 --no-docs --out /tmp/x.json

The trailing words are Hydra overrides of ``configs/train.yaml`` (the data and model to score). The split is
tokenised through the project's own path (prepare cache, tokenised cache), then scored with
``trainer.training.module.predict_logits`` twice per round: once by a loader in row order, once by
``TextDataModule.eval_loader`` (longest first, outputs put back in row order), alternating, ``--repeats`` rounds.
``--eval-max-tokens N`` adds a third loader, longest first in batches of N padded tokens
(``loader.eval_max_tokens``). The model is the config's pretrained encoder with a fresh head: the time does not
depend on the weights. Medians, the largest logit difference from row order and the padding share of each go to
``--out`` (JSON) and, unless ``--no-docs``, a row in ``docs/benchmarks.md`` ("Scoring order"; with
``--eval-max-tokens``, "Scoring batches (token budget)").
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts" / "bench"))

from data_scale import _after_last_row, machine  # noqa: E402

from trainer.config import compose  # noqa: E402
from trainer.data.datamodule import TextDataModule, make_loader  # noqa: E402
from trainer.data.prepared_cache import prepare_data_cached  # noqa: E402
from trainer.models.sources import load_classifier  # noqa: E402
from trainer.training.module import ClassifierModule, predict_logits  # noqa: E402
from trainer.training.settings import TrainSettings  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Scoring order"
BUDGET_SECTION = "## Scoring batches (token budget)"
DEFAULTS = ["data=germeval_c2a", "model=me5_small", "model.max_length=512"]


def _padding_share(loader: Any) -> float:
    real = total = 0
    for batch in loader:
        real += int(batch["attention_mask"].sum())
        total += batch["attention_mask"].numel()
    return 1.0 - real / total if total else 0.0


def score_both(
    overrides: list[str], split: str, rows: int | None, repeats: int, eval_max_tokens: int | None = None
) -> dict[str, Any]:
    extra = [f"+data.max_samples.{split}={rows}"] if rows else []
    work = Path(tempfile.mkdtemp(prefix="eval_order_"))
    settings = TrainSettings.from_config(compose("train", [*DEFAULTS, *overrides, *extra, f"paths.output_dir={work}"]))
    data = prepare_data_cached(settings.data, settings.cache_dir)
    loaded = load_classifier(settings.model, data.label_map, settings.cache_dir)
    dm = TextDataModule(data, loaded.tokenizer, settings.model.max_length, settings.cache_dir, settings.loader, 0)
    dm.prepare_data()
    dm.setup()
    module = ClassifierModule(loaded.model, data.label_map, data.languages, optimizer=torch.optim.AdamW)
    in_rows = make_loader(dm.tokenized.splits[split], dm.collator(), settings.loader.eval_batch_size)
    variants = {"row_order": (in_rows, None), "longest_first": dm.eval_loader(split)}
    if eval_max_tokens:  # the same rows longest first in token-budget batches (loader.eval_max_tokens)
        budget = replace(settings.loader, eval_max_tokens=eval_max_tokens)
        dm_budget = TextDataModule(data, loaded.tokenizer, settings.model.max_length, settings.cache_dir, budget, 0)
        dm_budget.prepare_data()
        dm_budget.setup()
        variants["token_budget"] = dm_budget.eval_loader(split)
    with torch.inference_mode():  # one batch each first: allocator and kernel warm-up stays out of the times
        for loader, _ in variants.values():
            module(next(iter(loader)))
    times: dict[str, list[float]] = {name: [] for name in variants}
    logits: dict[str, torch.Tensor] = {}
    for _ in range(repeats):
        for name, (loader, order) in variants.items():
            start = time.perf_counter()
            logits[name] = predict_logits(module, loader, order)[0]
            times[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    a, order = logits["row_order"], variants["longest_first"][1]
    return {
        "overrides": [*DEFAULTS, *overrides],
        "split": split,
        "rows": len(order),
        "max_length": settings.model.max_length,
        "eval_batch_size": settings.loader.eval_batch_size,
        "seconds": times,
        "median_s": med,
        "speedup": med["row_order"] / med["longest_first"],
        "max_abs_logit_diff": max(float((v - a).abs().max()) for v in logits.values()),
        "padding_share": {name: _padding_share(loader) for name, (loader, _) in variants.items()},
        "eval_max_tokens": eval_max_tokens,
        **({"budget_speedup": med["longest_first"] / med["token_budget"]} if eval_max_tokens else {}),
        "torch_threads": torch.get_num_threads(),
    }


def append_doc(r: dict[str, Any], command: str) -> None:
    med, pad = r["median_s"], r["padding_share"]
    when, size = f"{datetime.now(UTC):%Y-%m-%d}", f"{r['rows']:,} × {r['max_length']}"
    if r.get("eval_max_tokens"):
        section, header = (
            BUDGET_SECTION,
            (
                f"\n{BUDGET_SECTION}\n\n`scripts/bench/eval_order.py --eval-max-tokens N` scores one split longest first in "
                "batches of `eval_batch_size` rows and in batches of N padded tokens (`loader.eval_max_tokens`), "
                "alternating; medians.\n\n| date | command | machine | rows × max_length | budget | fixed rows s | "
                "token budget s | speedup | padding (fixed rows → budget) |\n|---|---|---|---|---|---|---|---|---|\n"
            ),
        )
        row = (
            f"| {when} | `{command}` | {machine()} | {size} | {r['eval_max_tokens']:,} | {med['longest_first']:.1f} "
            f"| {med['token_budget']:.1f} | **{r['budget_speedup']:.2f}×** "
            f"| {pad['longest_first']:.0%} → {pad['token_budget']:.0%} |"
        )
    else:
        section, header = (
            SECTION,
            (
                f"\n{SECTION}\n\n`scripts/bench/eval_order.py` scores one split with the best-checkpoint scoring path, in "
                "row order and longest first (the shipped order), alternating; medians.\n\n"
                "| date | command | machine | rows × max_length | row order s | longest first s | speedup | padding "
                "(row order → longest first) |\n|---|---|---|---|---|---|---|---|\n"
            ),
        )
        row = (
            f"| {when} | `{command}` | {machine()} | {size} | {med['row_order']:.1f} | {med['longest_first']:.1f} "
            f"| **{r['speedup']:.2f}×** | {pad['row_order']:.0%} → {pad['longest_first']:.0%} |"
        )
    text = DOC.read_text(encoding="utf-8")
    if section not in text:
        text = text.rstrip("\n") + "\n" + header
    head, _, tail = text.partition(section)
    DOC.write_text(head + section + _after_last_row(tail, [row]).rstrip("\n") + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of configs/train.yaml")
    parser.add_argument("--split", default="test")
    parser.add_argument("--rows", type=int, default=None, help="score the first N rows only")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench" / "eval_order.json")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument(
        "--eval-max-tokens", type=int, default=None, help="also score longest first in batches of N padded tokens"
    )
    args = parser.parse_args(argv)
    result = score_both(args.overrides, args.split, args.rows, args.repeats, args.eval_max_tokens)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    keys = ("rows", "median_s", "speedup", "budget_speedup", "max_abs_logit_diff", "padding_share")
    print(json.dumps({k: result[k] for k in keys if k in result}))
    if not args.no_docs:
        append_doc(result, "python scripts/bench/eval_order.py " + " ".join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
