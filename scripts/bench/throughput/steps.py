"""What both sides record per optimiser step, and the rates, memory figures and medians made from it."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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
