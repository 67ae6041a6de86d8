"""``python -m trainer.predict``: bad rows and empty texts (issue 13 #14), and property-based tests of its
input parsing (#15).

Unit tests drive :func:`trainer.predict.records` and ``main`` with a stand-in predictor (it checks its
texts like :class:`~trainer.serving.predictor.BundlePredictor` does); the ``integration`` ones build the
shared tiny bundle once per module and run the real predictor, the property tests included (50
examples; 1000 under ``-m slow``).
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainer import predict
from trainer.predict import RowPolicy, jsonl_rows, parse_line, records, text_rows
from trainer.serving.predictor import text_problem

FAST = settings(max_examples=50, deadline=None, database=None, suppress_health_check=list(HealthCheck))
LONG = settings(max_examples=1000, deadline=None, database=None, suppress_health_check=list(HealthCheck))


class StandIn:
    """Labels every text ``x``; refuses texts the real predictor refuses, as it does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.calls: list[list[str]] = []

    def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        for i, text in enumerate(texts):
            if text_problem(text):
                raise ValueError(f"text {i}: {text_problem(text)}")
        self.calls.append(list(texts))
        return [{"label": "x", "scores": {"x": 1.0}} for _ in texts]


def _run(lines: list[bytes], policy: RowPolicy, predictor: Any = None, chunk: int = 3) -> list[dict[str, Any]]:
    rows = jsonl_rows(lines, "text", "in.jsonl")
    return [json.loads(json.dumps(r)) for r in records(predictor or StandIn(), rows, policy, chunk)]


MIXED = [
    b'{"id": 1, "text": "first post"}\n',
    b'{"id": 2, "text": 42}\n',
    b"not json\n",
    b"\n",
    b'"a plain string row"\n',
    b'{"id": 3, "text": "   "}\n',
    b'{"id": 4, "text": "\\ud83d broken"}\n',
    b"\xff\xfe bytes\n",
    b'{"id": 5}\n',
    b'{"id": 6, "text": ""}\n',
    b"[1, 2]\n",
    b'{"id": 7, "text": "last post"}',
]


def test_bad_rows_become_error_records_in_input_order() -> None:
    out = _run(MIXED, RowPolicy())
    assert [r.get("row") for r in out] == [None, 2, 3, None, 6, 7, 8, 9, 10, 11, None]
    assert [r.get("id") for r in out if "label" in r] == [1, None, 7]
    errors = {r["row"]: r["error"] for r in out if "error" in r}
    assert set(errors) == {2, 3, 7, 8, 9, 11}
    assert "'text' is a number" in errors[2] and "not JSON" in errors[3] and "lone surrogate" in errors[7]
    assert "not UTF-8 (byte 0xff" in errors[8] and "no 'text' field" in errors[9] and "an array" in errors[11]
    assert [r for r in out if r.get("empty")] == [
        {"id": 3, "text": "   ", "row": 6, "empty": True},
        {"id": 6, "text": "", "row": 10, "empty": True},
    ]
    assert all(set(r) == {"row", "error"} for r in out if "error" in r)


def test_skip_and_classify_and_error_choices() -> None:
    predictor = StandIn()
    out = _run(MIXED, RowPolicy("skip", "skip"), predictor)
    assert [r.get("id") for r in out] == [1, None, 7] and all("label" in r for r in out)
    predictor = StandIn()
    out = _run(MIXED, RowPolicy("skip", "classify"), predictor)
    assert [r.get("id") for r in out] == [1, None, 3, 6, 7]
    assert "   " in sum(predictor.calls, []) and "" in sum(predictor.calls, [])  # what happened before
    out = _run(MIXED, RowPolicy("record", "error"))
    assert {r["row"]: r["error"] for r in out if "error" in r}[6].startswith("the text is empty")
    with pytest.raises(ValueError, match=r"on_empty='blank'"):
        RowPolicy("record", "blank")


def test_a_bom_and_crlf_and_line_separators_inside_json_are_fine() -> None:
    lines = [b'\xef\xbb\xbf{"text": "a\xe2\x80\xa8b"}\r\n', '{"text": "c\u2029d\u0085e"}\n'.encode()]
    out = _run(lines, RowPolicy())
    assert [r["text"] for r in out] == ["a\u2028b", "c\u2029d\u0085e"] and all("label" in r for r in out)


def test_text_arguments_are_rows_too() -> None:
    rows = list(text_rows(["one", " ", "bad \udcff"]))
    out = list(records(StandIn(), rows, RowPolicy()))
    assert out[0] == {"text": "one", "label": "x", "scores": {"x": 1.0}}
    assert out[1] == {"text": " ", "row": 2, "empty": True}
    assert out[2]["row"] == 3 and "lone surrogate" in out[2]["error"]


def _main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    monkeypatch.setattr(predict, "BundlePredictor", StandIn)
    code = predict.main(["bundle", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_fail_stops_before_writing_anything_and_names_the_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [f'{{"id": {i}, "text": "post {i}"}}' for i in range(3000)]
    rows[2500] = '{"id": 2500, "text": null}'
    (tmp_path / "in.jsonl").write_text("\n".join(rows) + "\n")
    code, out, err = _main(monkeypatch, capsys, "--jsonl", str(tmp_path / "in.jsonl"), "--on-error", "fail")
    assert code == 2 and out == ""
    assert f"{tmp_path / 'in.jsonl'}:2501: expected a string 'text' field, 'text' is null" in err
    # The default: the job goes on, one record per row, the bad one in its place.
    code, out, err = _main(monkeypatch, capsys, "--jsonl", str(tmp_path / "in.jsonl"))
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(lines) == 3000 and lines[2500] == {"row": 2501, "error": lines[2500]["error"]}
    assert [r["id"] for r in lines if "id" in r] == [i for i in range(3000) if i != 2500]
    assert "1 bad rows written as error records" in err


def test_fail_reads_stdin_twice_through_a_spool(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Stdin:
        buffer = io.BytesIO(b'"ok"\n"  "\n')

    monkeypatch.setattr(sys, "stdin", Stdin)
    code, out, err = _main(monkeypatch, capsys, "--jsonl", "-", "--on-error", "fail", "--on-empty", "error")
    assert code == 2 and out == "" and "-:2: the text is empty" in err
    Stdin.buffer.seek(0)
    code, out, _ = _main(monkeypatch, capsys, "--jsonl", "-", "--on-error", "fail")
    assert code == 0 and [json.loads(line).get("empty") for line in out.splitlines()] == [None, True]


def test_a_missing_input_file_is_one_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _main(monkeypatch, capsys, "--jsonl", str(tmp_path / "nope.jsonl"))
    assert code == 2 and out == "" and "nope.jsonl: no such file" in err


def test_the_help_documents_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        predict.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--on-error {record,skip,fail}" in text and "--on-empty {record,classify,skip,error}" in text
    assert '{"row": n, "error": "..."}' in text and '"empty": true' in text


# -- property-based: random lines and random objects -------------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
OBJECTS = st.builds(
    lambda extra, text: {**extra, "text": text} if text is not ... else extra,
    st.dictionaries(st.text(max_size=5), JSON, max_size=3),
    st.one_of(st.text(), st.text(st.characters(whitelist_categories=["Zs", "Cc"])), JSON, st.just(...)),
)


def _encode(value: Any, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


LINE = st.one_of(
    st.builds(_encode, OBJECTS | JSON, st.booleans()),
    st.text().map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=40),
).map(lambda b: b.replace(b"\n", b" "))


def _expected_rows(lines: list[bytes]) -> list[int]:
    """Line numbers of the lines that are rows (blank ones are not)."""
    numbers = []
    for number, line in enumerate(lines, start=1):
        try:
            blank = not (line.removeprefix(predict.BOM) if number == 1 else line).decode("utf-8").strip()
        except UnicodeDecodeError:
            blank = False
        if not blank:
            numbers.append(number)
    return numbers


def check_every_row_answered(predictor: Any, lines: list[bytes]) -> None:
    out = _run([line + b"\n" for line in lines], RowPolicy(), predictor, chunk=4)
    numbers = _expected_rows(lines)
    assert len(out) == len(numbers)
    for number, record in zip(numbers, out, strict=True):
        if "error" in record:
            assert set(record) == {"row", "error"} and record["row"] == number
        elif record.get("empty"):
            assert record["row"] == number
        else:
            assert ("label" in record or "labels" in record) and "scores" in record
            row = parse_line(lines[number - 1].removeprefix(predict.BOM), number)
            assert row is not None and record["text"] == row.text  # this row, in its place


@FAST
@given(st.lists(LINE, max_size=12))
def test_random_lines_each_get_one_record_in_order(lines: list[bytes]) -> None:
    check_every_row_answered(StandIn(), lines)


@pytest.mark.slow
@LONG
@given(st.lists(LINE, max_size=12))
def test_random_lines_each_get_one_record_in_order_long(lines: list[bytes]) -> None:
    check_every_row_answered(StandIn(), lines)


# -- the real predictor on the shared tiny bundle --------------------------------------------------
@pytest.fixture(scope="module")
def bundle_predictor(shared_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.conftest import require_demo_data
    from tests.e2e.eval_support import shared_bundle, shared_run
    from trainer.serving.predictor import BundlePredictor

    require_demo_data()
    base = tmp_path_factory.getbasetemp()
    bundle = shared_bundle(base, shared_run(base, shared_cache))
    yield BundlePredictor(bundle, threads=1)


@pytest.mark.integration
def test_the_real_predictor_answers_every_mixed_row(bundle_predictor: Any) -> None:
    out = _run(MIXED, RowPolicy(), bundle_predictor)
    assert [r.get("id") for r in out if "label" in r] == [1, None, 7]
    assert len(out) == 11 and all(r["label"] in bundle_predictor.label_map.names for r in out if "label" in r)
    with pytest.raises(ValueError, match=r"text 1: .*lone surrogate"):
        bundle_predictor.predict(["fine", "\ud83d"])


@pytest.mark.integration
@FAST
@given(st.lists(LINE, max_size=12))
def test_real_predictor_random_lines(bundle_predictor: Any, lines: list[bytes]) -> None:
    check_every_row_answered(bundle_predictor, lines)


@pytest.mark.integration
@pytest.mark.slow
@LONG
@given(st.lists(LINE, max_size=12))
def test_real_predictor_random_lines_long(bundle_predictor: Any, lines: list[bytes]) -> None:
    check_every_row_answered(bundle_predictor, lines)


@pytest.mark.integration
def test_the_command_line_on_the_real_bundle(
    bundle_predictor: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The job no longer stops at a bad row: every row answered, the valid ones classified."""
    (tmp_path / "in.jsonl").write_bytes(b"".join(MIXED))
    code = predict.main([str(bundle_predictor.bundle), "--jsonl", str(tmp_path / "in.jsonl"), "--threads", "1"])
    captured = capsys.readouterr()
    out = [json.loads(line) for line in captured.out.splitlines()]
    assert code == 0 and len(out) == 11 and [r.get("id") for r in out if "label" in r] == [1, None, 7]
    assert "6 bad rows written as error records; 2 empty texts written as empty records" in captured.err
