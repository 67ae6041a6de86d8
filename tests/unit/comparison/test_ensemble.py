"""``trainer.comparison.ensemble`` and ``python -m trainer.ensemble`` on member folders written by the run
folder's own writers (labels, thresholds, metrics, data digest, predictions), with probabilities drawn
per test, so every expected number is computed here from the members' files, not written down.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import PROJECT_ROOT
from trainer.comparison.ensemble import EnsembleError, EnsembleStats, build_ensemble, write_ensemble_folder
from trainer.comparison.evidence import classical_evidence, evidence_from_folder
from trainer.data.labels import LabelMap
from trainer.runs.folder import RunFolder
from trainer.scoring.metrics import compute_metrics, tune_thresholds
from trainer.scoring.predictions import read_predictions, write_predictions

BINARY = LabelMap("binary", ("call", "none"), positive_index=0)
MULTICLASS = LabelMap("multiclass", ("nothing", "criticism", "agitation"))
STATS = EnsembleStats(n_boot=200)


def _gold(label_map: LabelMap, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, label_map.num_labels, (n,), generator=g)


def _noisy_probs(gold: torch.Tensor, label_map: LabelMap, skill: float, seed: int) -> torch.Tensor:
    """Probabilities leaning towards the gold class by ``skill`` (0: noise)."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(len(gold), label_map.num_labels, generator=g)
    logits[torch.arange(len(gold)), gold] += skill
    return logits.softmax(-1)


def write_member(
    folder: Path,
    label_map: LabelMap,
    gold: dict[str, torch.Tensor],
    probs: dict[str, torch.Tensor],
    digest: str = "a" * 64,
    ids: dict[str, list[str]] | None = None,
) -> Path:
    """A run folder holding what an ensemble reads; test rows written in reverse (members align by id)."""
    run = RunFolder(folder).create()
    run.write_labels(label_map)
    split_probs = probs["validation"]
    thresholds = tune_thresholds(split_probs, gold["validation"], label_map, "macro_f1")
    run.write_thresholds(label_map, thresholds, "validation")
    run.write_data_digest({"splits": {"validation": digest, "test": digest}})
    metrics = {"main_metric": "macro_f1", "baseline_test": {"n": len(gold["test"])}}
    run.write_metrics(metrics)
    for split in ("validation", "test"):
        rows = ids[split] if ids else [f"{split}-{i:03d}" for i in range(len(gold[split]))]
        order = list(range(len(rows)))[::-1] if split == "test" else list(range(len(rows)))
        write_predictions(
            run.predictions_file(split),
            [rows[i] for i in order],
            ["de"] * len(rows),
            gold[split][order],
            probs[split][order],
            label_map,
            thresholds,
        )
    return folder


def _members(tmp_path: Path, label_map: LabelMap, skills: list[float], n: int = 120) -> list[Path]:
    gold = {"validation": _gold(label_map, n, 1), "test": _gold(label_map, n, 2)}
    return [
        write_member(
            tmp_path / f"seed{k}",
            label_map,
            gold,
            {s: _noisy_probs(gold[s], label_map, skill, 10 * k + i) for i, s in enumerate(gold)},
        )
        for k, skill in enumerate(skills)
    ]


def _sorted(path: Path, label_map: LabelMap) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    p = read_predictions(path, label_map)
    order = sorted(range(len(p.ids)), key=lambda i: p.ids[i])
    return [p.ids[i] for i in order], p.probs[order], p.targets[order]


def test_binary_average_thresholds_from_validation_and_a_folder_compare_reads(tmp_path: Path) -> None:
    members = _members(tmp_path, BINARY, [1.0, 1.5, 2.0])
    ensemble = build_ensemble(members, STATS)
    folder = write_ensemble_folder(tmp_path / "ens", ensemble, {"runs": [str(m) for m in members]})

    for split in ("validation", "test"):
        ids, mean, gold = None, [], None
        for m in members:
            ids, probs, gold = _sorted(RunFolder(m).predictions_file(split), BINARY)
            mean.append(probs)
        got_ids, got, got_gold = _sorted(folder.predictions_file(split), BINARY)
        assert got_ids == ids and torch.equal(got_gold, gold)
        assert torch.allclose(got, torch.stack(mean).mean(0), atol=1e-6)
    _, val_mean, val_gold = _sorted(folder.predictions_file("validation"), BINARY)
    assert folder.thresholds() == pytest.approx(tune_thresholds(val_mean, val_gold, BINARY, "macro_f1"), abs=1e-6)

    # The folder's metrics are the ones recomputed from its own files, as trainer.compare recomputes them.
    evidence = evidence_from_folder(folder.path, "test")
    saved = json.loads((folder.path / "metrics.json").read_text())
    assert saved["test"]["overall"]["macro_f1"] == pytest.approx(evidence.metrics["overall"]["macro_f1"], abs=1e-6)
    assert saved["baseline_test"] == {"n": 120}  # the members' baselines travel with it
    assert [s["run"] for s in saved["members"]] == [str(m) for m in members]
    assert set(saved["comparisons"]) == {"best_member"}  # members without a TF-IDF file: no such reference
    assert sorted(p.name for p in folder.path.iterdir()) == [
        "README.md", "config.yaml", "data_digest.json", "labels.json", "metrics.json", "predictions", "thresholds.json"
    ]  # fmt: skip


def test_best_member_is_chosen_on_validation_and_tfidf_is_a_reference(tmp_path: Path) -> None:
    gold = {"validation": _gold(BINARY, 150, 1), "test": _gold(BINARY, 150, 2)}
    # Member a is the better one on validation, member b on test: the reference must be a.
    good_val = {"validation": _noisy_probs(gold["validation"], BINARY, 3.0, 1), "test": _noisy_probs(gold["test"], BINARY, 0.5, 2)}  # fmt: skip
    good_test = {"validation": _noisy_probs(gold["validation"], BINARY, 0.5, 3), "test": _noisy_probs(gold["test"], BINARY, 3.0, 4)}  # fmt: skip
    a = write_member(tmp_path / "a", BINARY, gold, good_val)
    b = write_member(tmp_path / "b", BINARY, gold, good_test)
    tfidf = _noisy_probs(gold["test"], BINARY, 0.2, 5)
    ids = [f"test-{i:03d}" for i in range(150)]
    write_predictions(RunFolder(a).baseline_predictions_file("test"), ids, ["de"] * 150, gold["test"], tfidf, BINARY, None)  # fmt: skip

    ensemble = build_ensemble([a, b], STATS)
    best = ensemble.comparisons["best_member"]
    assert best["reference"] == str(a)
    assert best["macro_f1"]["reference"] == pytest.approx(
        evidence_from_folder(a, "test").metrics["overall"]["macro_f1"], abs=1e-6
    )
    folder = write_ensemble_folder(tmp_path / "ens", ensemble, {})
    ref = classical_evidence(folder.path, evidence_from_folder(folder.path, "test"))  # copied with the folder
    tfidf_f1 = compute_metrics(tfidf, gold["test"], ["de"] * 150, BINARY, None)["overall"]["macro_f1"]
    assert ref.metrics["overall"]["macro_f1"] == pytest.approx(tfidf_f1, abs=1e-6)
    vs = ensemble.comparisons["baseline_tfidf"]["macro_f1"]
    assert vs["reference"] == pytest.approx(tfidf_f1, abs=1e-6) and vs["low"] <= vs["delta"] <= vs["high"]


def test_multiclass_decides_by_argmax_of_the_mean(tmp_path: Path) -> None:
    members = _members(tmp_path, MULTICLASS, [0.5, 1.0])
    ensemble = build_ensemble(members, STATS)
    assert ensemble.thresholds is None
    test = ensemble.splits["test"]
    expected = torch.stack([evidence_from_folder(m, "test").probs for m in members]).mean(0)
    assert torch.allclose(test.probs, expected, atol=1e-6)
    assert test.metrics["overall"]["accuracy"] == pytest.approx(
        float((expected.argmax(1) == test.targets).float().mean()), abs=1e-9
    )


def _one(tmp_path: Path, name: str, **kwargs: object) -> Path:
    gold = {"validation": _gold(BINARY, 40, 1), "test": _gold(BINARY, 40, 2)}
    probs = {s: _noisy_probs(gold[s], BINARY, 1.0, 7) for s in gold}
    if kwargs.pop("flip_gold", False):
        gold = {**gold, "test": 1 - gold["test"]}
    return write_member(tmp_path / name, kwargs.pop("labels", BINARY), gold, probs, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("other", "message"),
    [
        ({"labels": LabelMap("binary", ("yes", "no"), positive_index=0)}, r"other \(split validation\).*labels differ"),
        ({"digest": "b" * 64}, r"other \(split validation\).*splits\.validation differs"),
        ({"flip_gold": True}, r"other \(split test\).*gold labels differ, first at id 'test-000'"),
        (
            {"ids": {"validation": [f"validation-{i:03d}" for i in range(40)], "test": [f"x-{i}" for i in range(40)]}},
            r"other \(split test\).*not the same rows",
        ),
    ],
)
def test_members_that_cannot_be_averaged_are_refused_naming_the_folder(
    tmp_path: Path, other: dict, message: str
) -> None:
    first = _one(tmp_path, "first")
    with pytest.raises(EnsembleError, match=message):
        build_ensemble([first, _one(tmp_path, "other", **other)], STATS)


def test_one_member_or_a_folder_without_predictions_is_refused(tmp_path: Path) -> None:
    first = _one(tmp_path, "first")
    with pytest.raises(EnsembleError, match="at least two run folders"):
        build_ensemble([first], STATS)
    with pytest.raises(EnsembleError, match=r"given more than once"):
        build_ensemble([first, tmp_path / "." / "first"], STATS)
    empty = RunFolder(tmp_path / "empty").create().path
    with pytest.raises(EnsembleError, match=r"empty: predictions/validation.csv missing"):
        build_ensemble([first, empty], STATS)


def test_cli_writes_the_folder_and_prints_the_deltas(tmp_path: Path) -> None:
    members = _members(tmp_path, BINARY, [1.0, 2.0], n=60)
    out = tmp_path / "ens"
    done = subprocess.run(
        [sys.executable, "-m", "trainer.ensemble", f"runs=[{members[0]},{members[1]}]", f"out_dir={out}", "stats.n_boot=100"],  # fmt: skip
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ensemble of 2: validation macro_f1" in done.stdout and "against best_member: macro_f1" in done.stdout
    config = (out / "config.yaml").read_text()
    assert str(members[0]) in config and "n_boot: 100" in config
    refused = subprocess.run(
        [sys.executable, "-m", "trainer.ensemble", f"runs=[{members[0]}]", f"out_dir={tmp_path / 'no'}"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "at least two run folders" in refused.stderr


def test_the_tfidf_baseline_can_be_a_member_on_both_splits(tmp_path: Path) -> None:
    members = _members(tmp_path, BINARY, [1.0, 2.0], n=80)
    first = RunFolder(members[0])
    with pytest.raises(EnsembleError, match="predictions/baseline_tfidf_validation.csv missing"):
        build_ensemble(members, STATS, with_baseline_tfidf=True)
    tfidf = {}
    for k, split in enumerate(("validation", "test")):
        ids, _, gold = _sorted(first.predictions_file(split), BINARY)
        tfidf[split] = _noisy_probs(gold, BINARY, 0.7, 99 + k)
        write_predictions(first.baseline_predictions_file(split), ids, ["de"] * len(ids), gold, tfidf[split], BINARY, None)  # fmt: skip

    ensemble = build_ensemble(members, STATS, with_baseline_tfidf=True)
    assert [s["run"] for s in ensemble.member_scores] == [*map(str, members), f"baseline_tfidf of {members[0]}"]
    for split, ev in ensemble.splits.items():
        models = [evidence_from_folder(m, split).probs for m in members]
        assert torch.allclose(ev.probs, torch.stack([*models, tfidf[split]]).mean(0), atol=1e-6)
    val = ensemble.splits["validation"]
    assert ensemble.thresholds == pytest.approx(tune_thresholds(val.probs, val.targets, BINARY, "macro_f1"))
    folder = write_ensemble_folder(tmp_path / "hybrid", ensemble, {})
    assert folder.baseline_predictions_file("validation").is_file() and "baseline_tfidf" in ensemble.comparisons


def test_the_tfidf_member_is_never_the_best_member(tmp_path: Path) -> None:
    """Its C was chosen on validation: even when it scores best there, the reference is a trained member."""
    members = _members(tmp_path, BINARY, [0.3, 0.6], n=80)
    first = RunFolder(members[0])
    for k, split in enumerate(("validation", "test")):
        ids, _, gold = _sorted(first.predictions_file(split), BINARY)
        write_predictions(first.baseline_predictions_file(split), ids, ["de"] * len(ids), gold, _noisy_probs(gold, BINARY, 6.0, 7 + k), BINARY, None)  # fmt: skip
    ensemble = build_ensemble(members, STATS, with_baseline_tfidf=True)
    val = [s["validation"] for s in ensemble.member_scores]
    assert val[-1] > max(val[:-1])  # the TF-IDF member leads on validation...
    best = max(range(len(members)), key=lambda i: val[i])
    assert ensemble.comparisons["best_member"]["reference"] == str(members[best])  # ...and is not the reference
