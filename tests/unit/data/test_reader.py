"""Reader edge cases (issue 13 #13): each is read correctly or ends in one DataError naming file, row, column."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.conftest import write_csv
from trainer.data.reader import DataError, read_table


def _jsonl(path: Path, records: list[dict], *, bom: bool = False, ensure_ascii: bool = False) -> Path:
    text = "".join(json.dumps(r, ensure_ascii=ensure_ascii) + "\n" for r in records)
    path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
    return path


def test_csv_field_longer_than_the_csv_module_default_is_read(tmp_path: Path) -> None:
    long_text = "x" * (csv.field_size_limit() + 10)
    path = write_csv(tmp_path / "long.csv", ["id", "text"], [["1", long_text], ["2", "short"]])
    limit_before = csv.field_size_limit()
    table = read_table(path, "csv")
    assert table.rows[0]["text"] == long_text and table.rows[1]["text"] == "short"
    assert csv.field_size_limit() == limit_before  # process-wide setting left as it was


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085"])
def test_jsonl_splits_records_on_newline_only(tmp_path: Path, separator: str) -> None:
    records = [{"id": "1", "text": f"before{separator}after"}, {"id": "2", "text": "plain"}]
    path = _jsonl(tmp_path / "data.jsonl", records)
    table = read_table(path, "jsonl")
    assert table.rows == records and table.lines == [1, 2]


def test_jsonl_with_crlf_line_ends_is_read(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(b'{"id": "1", "text": "a"}\r\n{"id": "2", "text": "b"}\r\n')
    assert [r["id"] for r in read_table(path, "jsonl").rows] == ["1", "2"]


def test_jsonl_with_a_utf8_bom_is_read(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "bom.jsonl", [{"id": "1", "text": "a"}, {"id": "2", "text": "b"}], bom=True)
    table = read_table(path, "jsonl")
    assert table.columns == ["id", "text"] and [r["id"] for r in table.rows] == ["1", "2"]


def test_csv_duplicated_header_column_is_named(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "dup.csv", ["id", "text", "label", "text"], [["1", "a", "x", "b"]])
    with pytest.raises(DataError, match=r"dup\.csv.*'text'.*more than once") as info:
        read_table(path, "csv")
    assert info.value.column == "text"


def test_jsonl_duplicated_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "dup.jsonl"
    path.write_text('{"id": "1", "text": "a"}\n{"id": "2", "text": "a", "text": "b"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"dup\.jsonl.*row 2.*'text'.*more than once") as info:
        read_table(path, "jsonl")
    assert (info.value.row, info.value.column) == (2, "text")


def test_lone_surrogate_in_jsonl_is_named(tmp_path: Path) -> None:
    records = [{"id": "1", "text": "fine"}, {"id": "2", "text": "cut \ud83d here"}]
    path = _jsonl(tmp_path / "sur.jsonl", records, ensure_ascii=True)
    with pytest.raises(DataError, match=r"sur\.jsonl.*row 2.*'text'.*surrogate") as info:
        read_table(path, "jsonl")
    assert (info.value.row, info.value.column) == (2, "text")


def test_lone_surrogate_in_a_list_cell_is_named(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "sur.jsonl", [{"id": "1", "labels": ["a", "\udc00"]}], ensure_ascii=True)
    with pytest.raises(DataError, match=r"row 1.*'labels'.*surrogate"):
        read_table(path, "jsonl")


def test_lone_surrogate_from_an_escape_decoding_csv_is_named(tmp_path: Path) -> None:
    path = tmp_path / "sur.csv"
    path.write_bytes(b"id,text\n1,fine\n2,cut \\ud83d here\n")
    with pytest.raises(DataError, match=r"sur\.csv.*row 2.*'text'.*surrogate"):
        read_table(path, "csv", encoding="unicode_escape")


def test_header_only_csv_has_no_rows(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "head.csv", ["id", "text", "label"], [])
    with pytest.raises(DataError, match=r"head\.csv.*no rows"):
        read_table(path, "csv")


def test_blank_jsonl_has_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "blank.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"blank\.jsonl.*no rows"):
        read_table(path, "jsonl")


def test_header_only_file_fails_in_prepare_naming_the_file(tmp_path: Path) -> None:
    from tests.conftest import data_config
    from trainer.data import data_spec_from_dict, prepare_data

    header = ["id", "text", "lang", "label"]
    files = {}
    for split in ("train", "validation", "test"):
        rows = [[f"{split}{i}", f"post {i}", "en", ["pos", "neg"][i % 2]] for i in range(4)]
        files[split] = str(write_csv(tmp_path / f"{split}.csv", header, [] if split == "test" else rows))
    with pytest.raises(DataError, match=r"test\.csv.*no rows"):
        prepare_data(data_spec_from_dict(data_config("t", files)))


def _cr_csv(path: Path) -> Path:
    """Quoted fields holding lone CRs (a spreadsheet's line breaks), then a ragged row on grep's line 9."""
    rows = ['1,"first\rsecond",a', "2,plain,b", '3,"x\ry\rz",a', '4,"crlf inside\r\nfield",b', "5,last,a"]
    path.write_bytes(("id,text,label\n" + "\n".join(rows) + "\n6,too,many,fields\n").encode())
    return path


def test_lone_crs_in_quoted_fields_are_text_not_lines(tmp_path: Path) -> None:
    """Line numbers are grep -n's (LF only): before, each lone CR counted as a line (row 9086 -> line 10491)."""
    path = _cr_csv(tmp_path / "cr.csv")
    grep_line = path.read_bytes().split(b"\n").index(b"6,too,many,fields") + 1
    with pytest.raises(DataError) as info:
        read_table(path, "csv")
    assert (info.value.row, info.value.line, grep_line) == (6, 8, 8)
    path.write_bytes(path.read_bytes().replace(b"6,too,many,fields\n", b""))
    table = read_table(path, "csv")
    assert table.rows[0]["text"] == "first\rsecond" and table.rows[2]["text"] == "x\ry\rz"
    assert table.lines == [2, 3, 4, 5, 7]


def test_streamed_csv_counts_lines_like_the_reader(tmp_path: Path) -> None:
    from trainer.data.formats import read_columns

    path = _cr_csv(tmp_path / "cr.csv")
    path.write_bytes(path.read_bytes().replace(b"6,too,many,fields\n", b""))
    columns = read_columns(path, "csv", "utf-8", ",", None, ["id", "text"])
    assert columns.lines == [2, 3, 4, 5, 7] and columns.values["text"][2] == "x\ry\rz"


def test_a_csv_with_cr_line_ends_is_still_read(tmp_path: Path) -> None:
    """Old Mac files end records with a lone CR outside quotes: read as before."""
    path = tmp_path / "mac.csv"
    path.write_bytes(b"id,text\r1,a\r2,b\r")
    assert [r["text"] for r in read_table(path, "csv").rows] == ["a", "b"]
