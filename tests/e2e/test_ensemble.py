"""``trainer.ensemble`` with ``tracking=mlflow`` (an embedded sqlite store): the ensemble folder is logged as
a run that ``trainer.compare`` selects and pairs with its TF-IDF reference, with the ensemble's own numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.comparison.test_ensemble import BINARY, _members, _noisy_probs, _sorted
from trainer.comparison.ensemble import EnsembleStats
from trainer.runs.folder import RunFolder
from trainer.scoring.predictions import write_predictions

pytestmark = pytest.mark.integration


def test_a_logged_ensemble_is_selected_and_paired_by_compare(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from trainer.compare import Selection, StatsSettings, run_compare
    from trainer.ensemble import run_ensemble

    members = _members(tmp_path, BINARY, [1.0, 2.0], n=90)
    first = RunFolder(members[0])
    for k, split in enumerate(("validation", "test")):  # the TF-IDF baseline every training run saves
        ids, _, gold = _sorted(first.predictions_file(split), BINARY)
        probs = _noisy_probs(gold, BINARY, 0.3, 40 + k)
        write_predictions(first.baseline_predictions_file(split), ids, ["de"] * len(ids), gold, probs, BINARY, None)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracking = {"backend": "mlflow", "uri": uri, "experiment_name": "ensembles"}
    ensemble, run_id = run_ensemble(members, EnsembleStats(n_boot=200), tmp_path / "ens", {"runs": []}, False, tracking)
    assert run_id

    run = MlflowClient(uri).get_run(run_id)
    assert run.data.tags["entry_point"] == "trainer.ensemble" and run.data.tags["ensemble_size"] == "2"
    test_f1 = ensemble.splits["test"].metrics["overall"]["macro_f1"]
    assert run.data.metrics["test/macro_f1"] == pytest.approx(test_f1)
    assert run.data.metrics["vs_baseline_tfidf/macro_f1_delta"] == pytest.approx(
        ensemble.comparisons["baseline_tfidf"]["macro_f1"]["delta"]
    )

    report = run_compare(
        uri, Selection(run_ids=[run_id]), None, "test", [], StatsSettings(n_boot=200), tmp_path / "cmp", None,
        "baseline_tfidf",
    )  # fmt: skip
    assert report["runs"][run_id]["metrics"]["macro_f1"]["value"] == pytest.approx(test_f1, abs=1e-6)
    tfidf = ensemble.comparisons["baseline_tfidf"]["macro_f1"]["reference"]
    assert report["runs"][report["baseline"]]["metrics"]["macro_f1"]["value"] == pytest.approx(tfidf, abs=1e-6)
    assert report["comparisons"][run_id]["shared"] is True
