"""Torch-free reference predictor for an export bundle: texts in, labels and scores out.

    python -m trainer.predict outputs/export/<name> "first text" "second text"
    python -m trainer.predict outputs/export/<name> --jsonl posts.jsonl > predictions.jsonl

One JSON line out per input row, in input order (text arguments first, then the ``--jsonl`` rows);
``--jsonl`` rows keep their other fields and are streamed in chunks, so a file of any size runs in
bounded memory. Blank lines of the file are not rows and give no output. The predictor itself is
:class:`trainer.serving.predictor.BundlePredictor`; this module only reads arguments and rows and
writes lines, and like it needs only numpy, onnxruntime and tokenizers (never torch).

Rows that cannot be classified, and empty texts; ``n`` is the 1-based --jsonl line or text argument:

- A *bad row* (not UTF-8, not JSON, neither a string nor an object with a string text field, or
  holding a lone surrogate, which is not Unicode). ``--on-error record`` (the default) writes
  ``{"row": n, "error": "<why>"}`` in its place and goes on; ``skip`` leaves it out; ``fail`` reads the
  whole input before predicting anything and, at the first bad row, exits with status 2 naming
  ``FILE:n``, having written nothing (stdin is spooled to a temporary file for the two passes).
- An *empty text* (empty or whitespace only). ``--on-empty record`` (the default) writes the row's
  fields with ``"row": n, "empty": true`` and no label; ``classify`` runs the model on it (what
  happened before: a label the text does not support); ``skip`` leaves it out; ``error`` makes it a
  bad row, handled by ``--on-error``.

Every classified row also gets ``decision``: the label and the score it was compared with (binary:
``"hs: score 0.4100 >= threshold 0.3120"``), because a tuned threshold or a temperature makes a label that
differs from the highest score correct; the rule itself (thresholds per label, temperature) goes to stderr
once. A one-line count of bad, empty and skipped rows goes to stderr when there were any. Exit status: 0
once every row was handled, 2 for a bundle that cannot be loaded, a missing input file, or a bad
row under ``--on-error fail``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, TextIO, runtime_checkable

from trainer.data.labels import LabelMap
from trainer.serving.bundle import BundleError
from trainer.serving.conformance import load_checked
from trainer.serving.predictor import BundlePredictor, text_problem

ON_ERROR = ("record", "skip", "fail")
ON_EMPTY = ("record", "classify", "skip", "error")
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Row:
    """One input row: its fields and text, or why it cannot be classified."""

    number: int  # line number in the file, or position of the text argument (1-based)
    where: str  # "posts.jsonl:3", "text argument 2": for messages
    fields: dict[str, Any]  # what its output line keeps
    text: str | None = None  # None for a bad row
    error: str | None = None

    @property
    def empty(self) -> bool:
        return self.text is not None and not self.text.strip()


@dataclass(frozen=True)
class RowPolicy:
    """``--on-error`` and ``--on-empty``: what becomes of bad rows and empty texts."""

    on_error: str = "record"
    on_empty: str = "record"

    def __post_init__(self) -> None:
        if self.on_error not in ON_ERROR:
            raise ValueError(f"on_error={self.on_error!r}: expected one of {ON_ERROR}")
        if self.on_empty not in ON_EMPTY:
            raise ValueError(f"on_empty={self.on_empty!r}: expected one of {ON_EMPTY}")

    def problem(self, row: Row) -> str | None:
        """Why ``row`` is a bad row under this policy (an empty text is one with ``on_empty=error``)."""
        if row.error is not None:
            return row.error
        if row.empty and self.on_empty == "error":
            return "the text is empty or whitespace only (--on-empty error)"
        return None

    def action(self, row: Row) -> str:
        """``classify``, ``empty`` (an empty record), ``error`` (an error record) or ``skip``."""
        problem = self.problem(row)
        if problem is not None:
            if self.on_error == "fail":  # first_problem() stops the job before this is reached
                raise ValueError(f"{row.where}: {problem}")
            return "error" if self.on_error == "record" else "skip"
        if row.empty:
            return {"record": "empty", "skip": "skip"}.get(self.on_empty, "classify")
        return "classify"


@runtime_checkable
class _HasRule(Protocol):
    """What a predictor exposes of its decision rule (:class:`BundlePredictor` does)."""

    label_map: LabelMap
    thresholds: list[float] | None
    temperature: float


@dataclass(frozen=True)
class DecisionRule:
    """How scores become labels: argmax (multiclass), or the tuned thresholds (binary, multi-label)."""

    label_map: LabelMap
    thresholds: list[float] | None
    temperature: float = 1.0

    @classmethod
    def of(cls, predictor: object) -> DecisionRule | None:
        """The predictor's rule; None for one that only implements ``predict``."""
        if not isinstance(predictor, _HasRule):
            return None
        return cls(predictor.label_map, predictor.thresholds, float(predictor.temperature))

    def _cut(self, k: int) -> float:
        return float(self.thresholds[k]) if self.thresholds is not None else 0.5

    def describe(self) -> str:
        """One line: the rule, the threshold of each label, the temperature."""
        lm, names = self.label_map, self.label_map.names
        source = "tuned" if self.thresholds is not None else "default"
        if lm.task == "multiclass":
            rule = f"the label with the highest score (argmax over {len(names)} labels)"
        elif lm.task == "binary":
            pos = int(lm.positive_index or 0)
            rule = f"{names[pos]!r} when its score >= {self._cut(0):.4f} ({source} threshold), else {names[1 - pos]!r}"
        else:
            cuts = ", ".join(f"{n} >= {self._cut(k):.4f}" for k, n in enumerate(names))
            rule = f"every label whose score reaches its {source} threshold: {cuts}"
        activation = "sigmoid" if lm.task == "multilabel" else "softmax"
        return f"decision rule: {rule}; scores = {activation}(logits / temperature {self.temperature:.4f})"

    def explain(self, prediction: dict[str, Any]) -> str:
        """Why this row got its label(s), from its scores and the rule."""
        lm, names, scores = self.label_map, self.label_map.names, prediction["scores"]
        if lm.task == "multilabel":
            on = set(prediction["labels"])
            return "; ".join(
                f"{n} {scores[n]:.4f} {'>=' if n in on else '<'} {self._cut(k):.4f}" for k, n in enumerate(names)
            )
        label = prediction["label"]
        if lm.task == "multiclass":
            return f"{label}: highest score {scores[label]:.4f}"
        positive = names[int(lm.positive_index or 0)]
        compare = ">=" if label == positive else "<"
        return f"{label}: score of {positive} {scores[positive]:.4f} {compare} threshold {self._cut(0):.4f}"


def _bad(number: int, where: str, why: str) -> Row:
    return Row(number, where, {}, error=why)


def _type_name(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def parse_line(line: bytes | str, number: int, text_field: str = "text", name: str = "-") -> Row | None:
    """One ``--jsonl`` line as a :class:`Row`, None for a blank line. Never raises: a bad row says why."""
    where = f"{name}:{number}"
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as err:
            return _bad(number, where, f"not UTF-8 (byte 0x{line[err.start]:02x} at offset {err.start})")
    if not line.strip():
        return None
    try:
        value = json.loads(line)
    except RecursionError:
        return _bad(number, where, "not JSON this reader accepts (nested too deeply)")
    except ValueError as err:  # JSONDecodeError, and integers too long to convert
        return _bad(number, where, f"not JSON ({err})")
    if isinstance(value, str):
        value = {text_field: value}
    if not isinstance(value, dict):
        return _bad(
            number, where, f"expected a string or an object with a string {text_field!r}, got {_type_name(value)}"
        )
    text = value.get(text_field)
    if not isinstance(text, str):
        got = f"no {text_field!r} field" if text_field not in value else f"{text_field!r} is {_type_name(text)}"
        return _bad(number, where, f"expected a string {text_field!r} field, {got}")
    problem = text_problem(text) or _fields_problem(value)
    return _bad(number, where, problem) if problem else Row(number, where, value, text)


def _fields_problem(value: dict[str, Any]) -> str | None:
    """Why the row's other fields cannot be written back out (a lone surrogate is not UTF-8)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as err:
        return f"a field holds {err.object[err.start : err.end]!r}, a lone surrogate: not valid Unicode"
    except RecursionError:
        return "nested too deeply to write back out"
    return None


def text_rows(texts: Iterable[str]) -> Iterator[Row]:
    """Text arguments as rows (output field ``text``)."""
    for number, text in enumerate(texts, start=1):
        where = f"text argument {number}"
        problem = text_problem(text)
        yield _bad(number, where, problem) if problem else Row(number, where, {"text": text}, text)


def jsonl_rows(lines: Iterable[bytes | str], text_field: str, name: str) -> Iterator[Row]:
    """The rows of a JSONL stream, split on ``\\n`` only; a UTF-8 byte order mark at the start is dropped."""
    for number, line in enumerate(lines, start=1):
        if number == 1:
            line = line.removeprefix(BOM) if isinstance(line, bytes) else line.removeprefix("\ufeff")
        row = parse_line(line, number, text_field, name)
        if row is not None:
            yield row


def first_problem(rows: Iterable[Row], policy: RowPolicy) -> str | None:
    """``WHERE: why`` of the first bad row under ``policy``, or None."""
    for row in rows:
        problem = policy.problem(row)
        if problem is not None:
            return f"{row.where}: {problem}"
    return None


def records(
    predictor: BundlePredictor,
    rows: Iterable[Row],
    policy: RowPolicy,
    chunk: int = 1024,
    counts: Counter[str] | None = None,
    rule: DecisionRule | None = None,
) -> Iterator[dict[str, Any]]:
    """The output record of every row, in input order; predicts ``chunk`` rows per call.

    With ``rule``, each classified record also says why it got its label (``decision``).
    """
    counts = Counter() if counts is None else counts
    for batch in _chunks(rows, chunk):
        actions = [policy.action(row) for row in batch]
        counts.update(actions)
        predictions = iter(
            predictor.predict([r.text or "" for r, a in zip(batch, actions, strict=True) if a == "classify"])
        )
        for row, action in zip(batch, actions, strict=True):
            if action == "classify":
                prediction = next(predictions)
                yield {**row.fields, **prediction, **({"decision": rule.explain(prediction)} if rule else {})}
            elif action == "empty":
                yield {**row.fields, "row": row.number, "empty": True}
            elif action == "error":
                yield {"row": row.number, "error": policy.problem(row)}


def _chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    """Rows in lists of ``size``; the last one may be shorter."""
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@contextmanager
def _line_source(path: str | None, rereadable: bool) -> Iterator[Callable[[], Iterable[bytes]]]:
    """A function giving the input's lines each time it is called (stdin: once, unless spooled)."""
    if path is None:
        yield lambda: ()
    elif path != "-":
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such file (--jsonl)")

        def read() -> Iterator[bytes]:
            with open(path, "rb") as handle:  # bytes: split on \n only, decode row by row
                yield from handle

        yield read
    elif not rereadable:
        yield lambda: sys.stdin.buffer
    else:
        with tempfile.TemporaryFile() as spool:  # --on-error fail reads twice; stdin only once
            shutil.copyfileobj(sys.stdin.buffer, spool)

            def reread() -> IO[bytes]:
                spool.seek(0)
                return spool

            yield reread


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trainer.predict",
        description=(__doc__ or "").split("\n")[0],
        epilog="Bad rows and empty texts: see --on-error and --on-empty; row n is the line number of the "
        "--jsonl file (or the position of a text argument).",
    )
    parser.add_argument("bundle", type=Path, help="export bundle folder")
    parser.add_argument("texts", nargs="*", help="texts to classify (one JSON line out per text)")
    parser.add_argument("--jsonl", help="JSONL input (objects with a text field, or strings); - for stdin")
    parser.add_argument("--text-field", default="text", help="field holding the text in --jsonl rows")
    parser.add_argument("--model", default="auto", help="auto, int8, fp16, fp32 or a file in the bundle")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--chunk", type=int, default=1024, help="--jsonl rows read per prediction call")
    parser.add_argument(
        "--verify", action="store_true", help="check the manifest checksums and the conformance vectors first"
    )
    parser.add_argument(
        "--on-error",
        choices=ON_ERROR,
        default="record",
        help='a row that is not JSON, not UTF-8 or has no string text: record (default) writes {"row": n, '
        '"error": "..."} in its place and goes on; skip leaves it out; fail checks every row first and '
        "exits 2 naming the first bad one, writing nothing",
    )
    parser.add_argument(
        "--on-empty",
        choices=ON_EMPTY,
        default="record",
        help='an empty or whitespace-only text: record (default) writes the row with "row": n, "empty": true '
        "and no label; classify runs the model on it anyway; skip leaves it out; error makes it a bad row "
        "(see --on-error)",
    )
    return parser


def _load(args: argparse.Namespace) -> BundlePredictor:
    """The bundle's predictor; with --verify its files match the manifest and its graph passes the vectors."""
    if args.verify:
        return load_checked(args.bundle, args.model, threads=args.threads, batch_size=args.batch_size)
    return BundlePredictor(args.bundle, args.model, args.threads, args.batch_size)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.texts and not args.jsonl:
        parser.error("give texts or --jsonl FILE")
    policy = RowPolicy(args.on_error, args.on_empty)
    try:
        predictor = _load(args)
        with _line_source(args.jsonl, rereadable=policy.on_error == "fail") as lines:

            def rows() -> Iterator[Row]:
                yield from text_rows(args.texts)
                yield from jsonl_rows(lines(), args.text_field, args.jsonl or "-")

            problem = first_problem(rows(), policy) if policy.on_error == "fail" else None
            if problem is not None:
                print(f"error: {problem}; nothing written (--on-error fail)", file=sys.stderr)
                return 2
            counts: Counter[str] = Counter()
            rule = DecisionRule.of(predictor)
            if rule is not None:  # stderr: stdout stays one JSON line per row
                print(rule.describe(), file=sys.stderr, flush=True)
            _write(records(predictor, rows(), policy, args.chunk, counts, rule), sys.stdout)
    except (BundleError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    _summary(counts, policy)
    return 0


def _write(out_records: Iterator[dict[str, Any]], out: TextIO) -> None:
    for record in out_records:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")


def _summary(counts: Counter[str], policy: RowPolicy) -> None:
    """One stderr line when some rows were not classified: stdout stays pure JSONL."""
    parts = [
        f"{counts['error']} bad rows written as error records" if counts["error"] else "",
        f"{counts['empty']} empty texts written as empty records" if counts["empty"] else "",
        f"{counts['skip']} rows skipped (--on-error {policy.on_error}, --on-empty {policy.on_empty})"
        if counts["skip"]
        else "",
    ]
    if any(parts):
        print(f"predict: {counts['classify']} rows classified; " + "; ".join(p for p in parts if p), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
