"""Property-based tests of the input surfaces (issue 13 #15): the normaliser, the readers + prepare.

The contract: any input is processed, or ends in one DataError; never another exception, never a
hang. Bounded here (``FAST``) so the suite stays quick; ``-m slow`` runs ``LONG`` examples of each.
"""

from __future__ import annotations

import csv
import io
import json
import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from tests.conftest import data_config
from trainer.data import DataError, data_spec_from_dict, prepare_data
from trainer.data.normalize import NormalizerConfig, normalize_text

FAST = settings(max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
LONG = settings(max_examples=2000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces of the damage the normaliser repairs, so random texts hit its patterns, not only plain letters.
DAMAGE = ["\\x", "\\xf0", "\\x9f", "\\x98", "\\x82", "\\u", "\\ud83d", "\\ude02", "\\", "\\n", "\\t", "USER", "@USER"]
DAMAGE += ["@", "http://", "www.", ":", ",", "\u200b", "\u200d", "\u00ad", "\ufeff", "\U0001f602", "\u2028", "\n", " "]
damaged_text = st.lists(st.one_of(st.sampled_from(DAMAGE), st.text(max_size=3)), max_size=30).map("".join)
# Idempotence holds without backslash escapes (a second pass may decode what the first pass
# uncovered) and without zero-width characters (removing one after NFC can leave a new composable pair).
ZERO_WIDTH = "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad"
clean_text = st.text(alphabet=st.characters(exclude_characters="\\" + ZERO_WIDTH, exclude_categories=["Cs"]))
configs = st.builds(
    NormalizerConfig,
    repair_escapes=st.booleans(),
    mask_urls=st.booleans(),
    mask_users=st.booleans(),
    collapse_user_runs=st.booleans(),
    normalize_whitespace=st.booleans(),
    lowercase=st.booleans(),
)


@contextmanager
def _alarm(seconds: int) -> Iterator[None]:
    def _fail(signum: int, frame: object) -> None:
        raise TimeoutError(f"over {seconds} s: not linear")

    previous = signal.signal(signal.SIGALRM, _fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# -- the normaliser ------------------------------------------------------------------------------


def _never_raises(text: str, cfg: NormalizerConfig) -> None:
    assert isinstance(normalize_text(text, cfg), str)


def _idempotent(text: str) -> None:
    once = normalize_text(text, NormalizerConfig())
    assert normalize_text(once, NormalizerConfig()) == once


def _linear(unit: str) -> None:
    # A quadratic step takes tens of seconds on 50 KB of one repeated unit; linear ones, milliseconds.
    text = unit * (50_000 // max(len(unit), 1))
    with _alarm(3):
        normalize_text(text, NormalizerConfig())


@FAST
@given(damaged_text, configs)
def test_normaliser_never_raises(text: str, cfg: NormalizerConfig) -> None:
    _never_raises(text, cfg)


@FAST
@given(clean_text)
def test_normaliser_is_idempotent_on_text_without_escapes(text: str) -> None:
    _idempotent(text)


@FAST
@given(damaged_text.filter(bool))
def test_normaliser_is_linear_on_repeated_damage(unit: str) -> None:
    _linear(unit)


# -- readers + prepare ---------------------------------------------------------------------------

# Any cell: random text, or one of the shapes that broke the readers before (lone surrogates, NUL,
# quotes, CR LF, U+2028, a BOM, a truncated escape).
cell = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["", " ", "\ud83d", "\udc00 cut", "\x00", '"', "a\r\nb", "\u2028", "\ufeffx", "\\xf0\\x9f", "maybe"]
    ),
)
SPLIT_NAMES = ("train", "validation", "test")


@st.composite
def splits(draw: st.DrawFn) -> dict[str, list[tuple[str, str, str]]]:
    """Three valid tables (both labels in each), then up to three cells replaced by anything."""
    tables = {}
    for split in SPLIT_NAMES:
        n = draw(st.integers(2, 6))
        tables[split] = [
            (f"{split}{i}", draw(st.text(min_size=1, max_size=20)), ("pos", "neg")[i % 2]) for i in range(n)
        ]
    for _ in range(draw(st.integers(0, 3))):
        split = draw(st.sampled_from(SPLIT_NAMES))
        i = draw(st.integers(0, len(tables[split]) - 1))
        row = list(tables[split][i])
        row[draw(st.sampled_from([1, 2]))] = draw(cell)
        tables[split][i] = (row[0], row[1], row[2])
    if draw(st.booleans()) and draw(st.booleans()):  # now and then a file without rows
        tables[draw(st.sampled_from(SPLIT_NAMES))] = []
    return tables


def _write_csv(path: Path, rows: list[tuple[str, str, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "text", "label"])
    writer.writerows(rows)
    # surrogatepass: a lone surrogate reaches the file as the bytes a broken exporter would write.
    path.write_bytes(buffer.getvalue().encode("utf-8", "surrogatepass"))


def _write_jsonl(path: Path, rows: list[tuple[str, str, str]], ascii_escapes: bool = True) -> None:
    # ascii_escapes: "\\ud83d" escapes (a lone surrogate reaches the parsed text); else raw characters.
    lines = [json.dumps({"id": i, "text": t, "label": lab}, ensure_ascii=ascii_escapes) for i, t, lab in rows]
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass"))


def _prepared_or_data_error(fmt: str, write: Callable[[Path, Any], None], splits: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for split, rows in splits.items():
            path = Path(tmp) / f"{split}.{fmt}"
            write(path, rows)
            files[split] = str(path)
        values = data_config("prop", files, format=fmt, language_column=None, on_empty_text="drop")
        try:
            data = prepare_data(data_spec_from_dict(values))
        except DataError:
            event("DataError")
            return
        event("prepared")
        assert all(e.text for rows in data.splits.values() for e in rows)
        for split in data.splits:  # the digest encodes every text: a lone surrogate would crash here
            data.split_digest(split)


@FAST
@given(splits())
def test_csv_cells_are_prepared_or_one_data_error(tables: dict[str, Any]) -> None:
    _prepared_or_data_error("csv", _write_csv, tables)


# Pinned: a lone surrogate from a JSON escape (it crashed the split digest before the readers refused it).
SURROGATE_TABLES = {s: [(f"{s}0", "fine", "pos"), (f"{s}1", "cut \ud83d", "neg")] for s in SPLIT_NAMES}


@FAST
@given(splits(), st.booleans())
@example(SURROGATE_TABLES, True)
def test_jsonl_cells_are_prepared_or_one_data_error(tables: dict[str, Any], ascii_escapes: bool) -> None:
    _prepared_or_data_error("jsonl", lambda path, rows: _write_jsonl(path, rows, ascii_escapes), tables)


@FAST
@given(st.binary(max_size=300), st.sampled_from(["csv", "jsonl"]))
def test_arbitrary_bytes_are_read_or_one_data_error(raw: bytes, fmt: str) -> None:
    _prepared_or_data_error(
        fmt, lambda path, content: path.write_bytes(content), {s: raw for s in ("train", "validation", "test")}
    )


# -- the same properties, long (make test-all / -m slow) ------------------------------------------


@pytest.mark.slow
@LONG
@given(damaged_text, configs)
def test_normaliser_never_raises_long(text: str, cfg: NormalizerConfig) -> None:
    _never_raises(text, cfg)


@pytest.mark.slow
@LONG
@given(clean_text)
def test_normaliser_is_idempotent_long(text: str) -> None:
    _idempotent(text)


@pytest.mark.slow
@LONG
@given(damaged_text.filter(bool))
def test_normaliser_is_linear_long(unit: str) -> None:
    _linear(unit)


@pytest.mark.slow
@LONG
@given(splits(), st.sampled_from(["csv", "jsonl"]))
def test_cells_are_prepared_or_one_data_error_long(tables: dict[str, Any], fmt: str) -> None:
    _prepared_or_data_error(fmt, _write_csv if fmt == "csv" else _write_jsonl, tables)


@pytest.mark.slow
@LONG
@given(st.binary(max_size=2000), st.sampled_from(["csv", "jsonl"]))
def test_arbitrary_bytes_are_read_or_one_data_error_long(raw: bytes, fmt: str) -> None:
    _prepared_or_data_error(
        fmt, lambda path, content: path.write_bytes(content), {s: raw for s in ("train", "validation", "test")}
    )
