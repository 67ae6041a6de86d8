"""Scoring after fit: rows in row order against longest first (``TextDataModule.eval_loader``), side by side.

    python scripts/bench/eval_order.py                          # germeval_c2a test split, me5_small, 512 tokens
    python scripts/bench/eval_order.py data=demo model=tiny --rows 64 --repeats 1 --no-docs --out /tmp/x.json

The trailing words are Hydra overrides of ``configs/train.yaml`` (the data and model to score). The split is
tokenised through the project's own path (prepare cache, tokenised cache), then scored with
``trainer.training.module.predict_logits`` twice per round: once by a loader in row order, once by
``TextDataModule.eval_loader`` (longest first, outputs put back in row order), alternating, ``--repeats`` rounds.
The model is the config's pretrained encoder with a fresh head: the time does not depend on the weights. Medians,
the largest logit difference between the two orders and the padding share of each go to ``--out`` (JSON) and,
unless ``--no-docs``, a row in ``docs/benchmarks.md`` ("Scoring order").
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
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
DEFAULTS = ["data=germeval_c2a", "model=me5_small", "model.max_length=512"]


def _padding_share(loader: Any) -> float:
    real = total = 0
    for batch in loader:
        real += int(batch["attention_mask"].sum())
        total += batch["attention_mask"].numel()
    return 1.0 - real / total if total else 0.0


def score_both(overrides: list[str], split: str, rows: int | None, repeats: int) -> dict[str, Any]:
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
    longest_first, order = dm.eval_loader(split)
    with torch.inference_mode():  # one batch each first: allocator and kernel warm-up stays out of the times
        for loader in (in_rows, longest_first):
            module(next(iter(loader)))
    times: dict[str, list[float]] = {"row_order": [], "longest_first": []}
    for _ in range(repeats):
        start = time.perf_counter()
        a = predict_logits(module, in_rows)
        times["row_order"].append(time.perf_counter() - start)
        start = time.perf_counter()
        b = predict_logits(module, longest_first, order)
        times["longest_first"].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "overrides": [*DEFAULTS, *overrides],
        "split": split,
        "rows": len(order),
        "max_length": settings.model.max_length,
        "eval_batch_size": settings.loader.eval_batch_size,
        "seconds": times,
        "median_s": med,
        "speedup": med["row_order"] / med["longest_first"],
        "max_abs_logit_diff": float((a[0] - b[0]).abs().max()),
        "padding_share": {"row_order": _padding_share(in_rows), "longest_first": _padding_share(longest_first)},
        "torch_threads": torch.get_num_threads(),
    }


def append_doc(r: dict[str, Any], command: str) -> None:
    header = (
        f"\n{SECTION}\n\n`scripts/bench/eval_order.py` scores one split with the best-checkpoint scoring path, in row"
        " order and longest first (the shipped order), alternating; medians.\n\n"
        "| date | command | machine | rows × max_length | row order s | longest first s | speedup | padding "
        "(row order → longest first) |\n|---|---|---|---|---|---|---|---|\n"
    )
    text = DOC.read_text(encoding="utf-8")
    if SECTION not in text:
        text = text.rstrip("\n") + "\n" + header
    med, pad = r["median_s"], r["padding_share"]
    row = (
        f"| {datetime.now(UTC):%Y-%m-%d} | `{command}` | {machine()} | {r['rows']:,} × {r['max_length']} "
        f"| {med['row_order']:.1f} | {med['longest_first']:.1f} | **{r['speedup']:.2f}×** "
        f"| {pad['row_order']:.0%} → {pad['longest_first']:.0%} |"
    )
    head, _, tail = text.partition(SECTION)
    DOC.write_text(head + SECTION + _after_last_row(tail, [row]).rstrip("\n") + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of configs/train.yaml")
    parser.add_argument("--split", default="test")
    parser.add_argument("--rows", type=int, default=None, help="score the first N rows only")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench" / "eval_order.json")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    result = score_both(args.overrides, args.split, args.rows, args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("rows", "median_s", "speedup", "max_abs_logit_diff", "padding_share")}))
    if not args.no_docs:
        append_doc(result, "python scripts/bench/eval_order.py " + " ".join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
