"""Smoke examples of an export bundle: reference outputs written at export, checked after every pull.

``smoke.json`` holds a few neutral texts with the label and scores the bundle's served graph gave
when it was built, plus the latency measured then (batch 1, one thread). :func:`check_smoke` reruns
the reference predictor (:class:`trainer.serving.predictor.BundlePredictor`) on the same texts; any different
label, or any score further than ``atol`` away, is a failure naming the row. A bundle whose bytes
verify against its manifest but whose behaviour changed (another onnxruntime, a broken tokenizer
install) is caught here.

Torch-free like :mod:`trainer.serving.predictor`: deployers run it with onnxruntime and tokenizers only. The
texts are neutral on purpose: real posts are sensitive and must not travel inside every bundle.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trainer.serving.bundle import SMOKE, Bundle, BundleError
from trainer.serving.predictor import BundlePredictor

SMOKE_FILE = SMOKE  # the name callers imported from here
SMOKE_TEXTS = (
    "an example post to classify",
    "another example post @USER HTTPURL",
    "Pemerintah mengadakan rapat tentang cuaca minggu depan.",
    "Mesyuarat majlis bandaran akan diadakan pada hari Isnin.",
    "Ang pulong ng barangay ay gaganapin bukas ng umaga.",
    "การประชุมเรื่องสภาพอากาศจะจัดขึ้นในสัปดาห์หน้า",
    "မနက်ဖြန် ရာသီဥတု အစည်းအဝေး ရှိပါမည်။",
    "سيعقد اجتماع حول الطقس الأسبوع المقبل.",
)
DEFAULT_ATOL = 1e-4


def _latency_ms(predictor: BundlePredictor, texts: Sequence[str], repeats: int) -> dict[str, float]:
    predictor.predict([texts[0]])  # warm-up: session initialisation is not latency
    times = []
    for _ in range(repeats):
        for text in texts:
            start = time.perf_counter()
            predictor.predict([text])
            times.append((time.perf_counter() - start) * 1000)
    p50, p90 = np.percentile(times, [50, 90])
    return {"batch_1_p50": round(float(p50), 3), "batch_1_p90": round(float(p90), 3)}


def write_smoke(
    bundle: Path, graph: str = "auto", texts: Sequence[str] = SMOKE_TEXTS, latency_repeats: int = 5
) -> dict[str, Any]:
    """Write ``smoke.json`` into ``bundle`` (before its manifest is written: it is checksummed too)."""
    bundle = Path(bundle)
    predictor = BundlePredictor(bundle, graph, threads=1)
    smoke = {
        "graph": predictor.model_path.name,
        "atol": DEFAULT_ATOL,
        "examples": [{"text": t, **p} for t, p in zip(texts, predictor.predict(list(texts)), strict=True)],
        "latency_ms": {
            **_latency_ms(predictor, texts, latency_repeats),
            "threads": 1,
            "machine": platform.machine(),
            "processor": platform.processor() or None,
        },
    }
    Bundle(bundle).write_smoke(smoke)
    return smoke


def read_smoke(bundle: Path) -> dict[str, Any]:
    return Bundle(bundle).smoke()


def check_smoke(bundle: Path, atol: float | None = None) -> dict[str, Any]:
    """Rerun the reference predictor on the smoke texts; raise :class:`BundleError` on any mismatch."""
    smoke = read_smoke(bundle)
    tolerance = float(atol if atol is not None else smoke.get("atol", DEFAULT_ATOL))
    predictor = BundlePredictor(bundle, smoke["graph"])
    examples = smoke["examples"]
    got = predictor.predict([e["text"] for e in examples])
    problems, worst = [], 0.0
    for i, (want, have) in enumerate(zip(examples, got, strict=True)):
        key = "labels" if "labels" in want else "label"
        if want[key] != have[key]:
            problems.append(f"example {i} ({want['text'][:40]!r}): {key} {have[key]!r}, expected {want[key]!r}")
        diff = max(abs(float(have["scores"][n]) - float(v)) for n, v in want["scores"].items())
        worst = max(worst, diff)
        if diff > tolerance:
            problems.append(f"example {i} ({want['text'][:40]!r}): scores differ by {diff:.2e} > atol {tolerance:g}")
    if problems:
        raise BundleError(
            f"bundle {bundle}: smoke examples do not reproduce ({smoke['graph']}): " + "; ".join(problems)
        )
    return {"examples": len(examples), "graph": smoke["graph"], "max_abs_diff": worst, "atol": tolerance}
