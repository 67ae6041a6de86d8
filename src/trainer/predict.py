"""Torch-free reference predictor for an export bundle: texts in, labels and scores out.

    python -m trainer.predict outputs/export/<name> "first text" "second text"
    python -m trainer.predict outputs/export/<name> --jsonl posts.jsonl > predictions.jsonl

One JSON line out per text; ``--jsonl`` rows keep their other fields and are streamed in chunks, so a
file of any size runs in bounded memory. The predictor itself is
:class:`trainer.serving.predictor.BundlePredictor`; this module only reads arguments and writes lines,
and like it needs only numpy, onnxruntime and tokenizers (never torch).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from trainer.serving.bundle import BundleError
from trainer.serving.predictor import BundlePredictor


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trainer.predict", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("bundle", type=Path, help="export bundle folder")
    parser.add_argument("texts", nargs="*", help="texts to classify (one JSON line out per text)")
    parser.add_argument("--jsonl", help="JSONL input (objects with a text field, or strings); - for stdin")
    parser.add_argument("--text-field", default="text", help="field holding the text in --jsonl rows")
    parser.add_argument("--model", default="auto", help="auto, int8, fp16, fp32 or a file in the bundle")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--chunk", type=int, default=1024, help="--jsonl rows read per prediction call")
    parser.add_argument("--verify", action="store_true", help="check the manifest checksums first")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.texts and not args.jsonl:
        parser.error("give texts or --jsonl FILE")
    try:
        predictor = BundlePredictor(args.bundle, args.model, args.threads, args.batch_size, args.verify)
    except BundleError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = sys.stdout
    for text, pred in zip(args.texts, predictor.predict(args.texts), strict=True):
        out.write(json.dumps({"text": text, **pred}, ensure_ascii=False) + "\n")
    if args.jsonl:
        for chunk in _chunks(_jsonl_rows(args.jsonl, args.text_field), args.chunk):
            _write_chunk(predictor, chunk, args.text_field, out)
    return 0


def _jsonl_rows(path: str, text_field: str) -> Iterable[dict[str, Any]]:
    handle = sys.stdin if path == "-" else open(path, encoding="utf-8")  # closed in finally (not stdin)
    try:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise SystemExit(f"{path}:{number}: not JSON ({err})") from None
            if isinstance(row, str):
                row = {text_field: row}
            if not isinstance(row, dict) or not isinstance(row.get(text_field), str):
                raise SystemExit(f"{path}:{number}: expected a string or an object with a string {text_field!r}")
            yield row
    finally:
        if handle is not sys.stdin:
            handle.close()


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """Rows in lists of ``size``; the last one may be shorter (or empty when there are no rows)."""
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    yield chunk


def _write_chunk(predictor: BundlePredictor, rows: list[dict[str, Any]], text_field: str, out: TextIO) -> None:
    for row, pred in zip(rows, predictor.predict([r[text_field] for r in rows]), strict=True):
        out.write(json.dumps({**row, **pred}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    sys.exit(main())
