"""Issue 14 §1: three public dataset shapes onboard by a data config alone, composed as a user composes it.

Each test writes small files and a ``configs/data``-style YAML into tmp, puts that folder on Hydra's search
path (``hydra.searchpath``, as a user's own config folder would be), composes ``train`` with ``data=<name>``
and prepares it: row counts, labels and the report entries are the ones the files imply.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write_csv
from trainer.config import compose, to_container
from trainer.data import PreparedData, data_spec_from_dict, prepare_data


def _prepare(tmp_path: Path, name: str, yaml_text: str, *overrides: str) -> PreparedData:
    configs = tmp_path / "configs"
    (configs / "data").mkdir(parents=True, exist_ok=True)
    (configs / "data" / f"{name}.yaml").write_text(yaml_text, encoding="utf-8")
    cfg = compose("train", [f"hydra.searchpath=[file://{configs}]", f"data={name}", *overrides])
    return prepare_data(data_spec_from_dict(to_container(cfg.data)))


def test_binary_tweets_with_label_less_fragment_rows(tmp_path: Path) -> None:
    """A binary CSV whose label column is empty on fragment rows, a `no`/`yes` label, train + test files."""
    header = ["tweet_id", "tweet", "hate"]
    train = []
    for i in range(40):
        train.append([f"t{i}", f"tweet number {i} about topic {i % 4}", ("no", "yes")[i % 2]])
        if i % 10 == 0:
            train.append([f"t{i}f", f"fragment of tweet {i}", ""])  # a wrapped line: no label
    test = [[f"s{i}", f"test tweet {i}", ("no", "yes")[i % 2]] for i in range(10)] + [["s99", "a fragment", ""]]
    write_csv(tmp_path / "train.csv", header, train)
    write_csv(tmp_path / "test.csv", header, test)
    data = _prepare(
        tmp_path,
        "tweets",
        f"""# python -m trainer.train data=tweets
name: tweets
task: binary
files:
  train: {tmp_path}/train.csv
  test: {tmp_path}/test.csv
id_column: tweet_id
text_column: tweet
label_column: hate
label_names: {{"no": no_hate, "yes": hate}}
positive_label: hate
language: en
split: {{strategy: files, validation_from_train: 0.25, seed: 7}}
on_empty_label: drop
""",
    )
    assert data.report.rows == {"train": 30, "validation": 10, "test": 10}
    assert data.report.dropped == {"train": {"empty_label": 4}, "validation": {}, "test": {"empty_label": 1}}
    assert data.label_map.names == ("hate", "no_hate") and data.label_map.positive_label == "hate"
    # Stratified: the carved validation split has both classes in the train file's proportion.
    assert data.report.label_counts["validation"] == {"hate": 5, "no_hate": 5}
    assert data.report.policies["empty_label"] == "drop"
    assert set(data.splits["validation"].ids).isdisjoint(data.splits["train"].ids)


def test_nine_class_fasttext_without_a_validation_split(tmp_path: Path) -> None:
    classes = [f"c{k}" for k in range(9)]
    lines = [f"__label__{classes[i % 9]} post {i} of class {classes[i % 9]}\n" for i in range(90)]
    (tmp_path / "train.txt").write_text("".join(lines), encoding="utf-8")
    (tmp_path / "test.txt").write_text(
        "".join(f"__label__{classes[i % 9]} held-out post {i}\n" for i in range(18)), encoding="utf-8"
    )
    data = _prepare(
        tmp_path,
        "nine",
        f"""# python -m trainer.train data=nine
name: nine
task: multiclass
format: fasttext
files:
  train: {tmp_path}/train.txt
  test: {tmp_path}/test.txt
text_column: text
label_column: label
split:
  strategy: files
  validation_from_train: 0.1
  seed: 13
""",
    )
    assert data.label_map.names == tuple(classes)
    assert data.report.rows == {"train": 81, "validation": 9, "test": 18}
    assert all(n == 1 for n in data.report.label_counts["validation"].values())  # one per class: stratified
    first = data.splits["test"][0]
    assert (first.text, first.raw_label, first.line) == ("held-out post 0", "c0", 1)


def test_text_file_folder_joined_with_a_metadata_csv(tmp_path: Path) -> None:
    folder = tmp_path / "all_files"
    folder.mkdir()
    rows = []
    for i in range(30):
        ident = f"{1000 + i}_{i % 3}"
        (folder / f"{ident}.txt").write_text(f"sentence {i} of the forum\n", encoding="utf-8")
        rows.append([ident, f"user{i}", ("noHate", "hate")[i % 3 == 0]])
    write_csv(tmp_path / "annotations_metadata.csv", ["file_id", "user_id", "label"], rows)
    data = _prepare(
        tmp_path,
        "forum",
        f"""# python -m trainer.train data=forum
name: forum
task: binary
format: text_files
files:
  all: {tmp_path}/annotations_metadata.csv
text_dir: {folder}
file_pattern: "{{id}}.txt"
id_column: file_id
text_column: text
label_column: label
positive_label: hate
split: {{strategy: ratio, ratios: [0.6, 0.2, 0.2], seed: 1}}
""",
    )
    assert sum(data.report.rows.values()) == 30 and data.report.rows["test"] == 6
    assert data.label_map.names == ("hate", "noHate")
    example = next(e for rows in data.splits.values() for e in rows if e.id == "1001_1")
    assert example.text == "sentence 1 of the forum" and example.raw_label == "noHate"
    # The text folder is part of the data's identity.
    assert set(data.file_digests) == {"all", "text_dir"}
    assert "casefolded" in data.report.matching_rule
