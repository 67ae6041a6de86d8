"""``python -m trainer.export``: bundle, gates, manifest, torch-free predictor, MLflow publication.

The integration tests share ONE tiny trained run (module fixture) and one exported bundle.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import onnx
import pytest
import torch

from tests.conftest import PROJECT_ROOT, require_demo_data, tiny_overrides
from tests.e2e.eval_support import log_run_folder
from trainer.data.labels import LabelMap
from trainer.exporting.quantize import QuantizeSettings, excluded_nodes, module_path, quantize_settings_from_dict
from trainer.scoring.metrics import predict_labels
from trainer.serving.bundle import BundleError, verify_bundle, write_manifest
from trainer.serving.contract import contract
from trainer.serving.predictor import decide, scores_from_logits

LABELS = ["incitement", "not_extremist", "propaganda", "recruitment"]
LANGS = {"ar", "en", "id", "ms", "my", "th", "tl"}
BUNDLE_FILES = {
    "README.md",
    "manifest.json",
    "model.onnx",
    "model.int8.onnx",
    "tokenizer.json",
    "tokenizer_config.json",
    "preprocess.json",
    "labels.json",
    "thresholds.json",
    "calibration.json",
    "metrics.json",
    "smoke.json",
    "conformance.json",
}
# Torch (and transformers, which needs it) made unimportable before anything else is imported.
BLOCK_TORCH = "import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None\n"


# -- fast unit tests ------------------------------------------------------------------------------------
def test_contract_describes_inputs_outputs_and_decision() -> None:
    c = contract("binary", ["extremist", "not_extremist"], ["input_ids", "attention_mask"], 128, 1.5)
    assert [i["name"] for i in c["inputs"]] == ["input_ids", "attention_mask"]
    assert all(i["dtype"] == "int64" and i["shape"] == ["batch", "sequence"] for i in c["inputs"])
    (out,) = c["outputs"]
    assert out["name"] == "logits" and out["dtype"] == "float32" and out["shape"] == ["batch", 2]
    assert "logits / 1.5" in out["meaning"] and "thresholds[0]" in out["meaning"]
    assert c["labels"] == ["extremist", "not_extremist"] and c["max_length"] == 128


def test_manifest_checksums_and_tamper_detection(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"x": 1}\n')
    (tmp_path / "model.onnx").write_bytes(b"\x00" * 100)
    manifest = write_manifest(tmp_path, {"opset": 18})
    assert set(manifest["files"]) == {"a.json", "model.onnx"}
    assert verify_bundle(tmp_path)["opset"] == 18
    (tmp_path / "model.onnx").write_bytes(b"\x00" * 99 + b"\x01")  # same size, different bytes
    with pytest.raises(BundleError, match=r"model\.onnx: sha256 differs"):
        verify_bundle(tmp_path)
    (tmp_path / "model.onnx").write_bytes(b"\x00" * 100)
    (tmp_path / "extra.txt").write_text("not shipped")
    with pytest.raises(BundleError, match=r"extra\.txt: not listed"):
        verify_bundle(tmp_path)
    (tmp_path / "extra.txt").unlink()
    (tmp_path / "a.json").unlink()
    with pytest.raises(BundleError, match=r"a\.json: missing"):
        verify_bundle(tmp_path)


@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel"])
def test_predictor_decisions_match_the_training_rule(task: str) -> None:
    names = ("a", "b", "c") if task != "binary" else ("neg", "pos")
    label_map = LabelMap(task, names, 1 if task == "binary" else None)
    thresholds = {"binary": [0.3], "multiclass": None, "multilabel": [0.2, 0.5, 0.8]}[task]
    logits = np.random.default_rng(0).normal(size=(200, len(names))).astype(np.float32)
    probs = scores_from_logits(logits, task, temperature=1.7)
    expected = predict_labels(torch.from_numpy(probs), label_map, thresholds).numpy()
    np.testing.assert_array_equal(decide(probs, label_map, thresholds), expected)


def test_every_precision_of_the_table_reaches_quantize_bundle_and_predictor(tmp_path: Path) -> None:
    """Adding a precision is one row of trainer.serving.precisions: the quantiser has a writer for each of its
    modes, the bundle README describes its graph and weights file, and the predictor serves it by name."""
    from trainer.exporting.quantize import MODE_WRITERS
    from trainer.serving.bundle import BUNDLE_FILES, Bundle
    from trainer.serving.precisions import FP32, PRECISIONS, QUANTIZATION_MODES, REDUCED, for_mode

    assert set(MODE_WRITERS) == set(QUANTIZATION_MODES) - {"none"}
    assert all(for_mode(m) in REDUCED for m in MODE_WRITERS) and for_mode("none") is None
    for precision in PRECISIONS.values():
        assert BUNDLE_FILES[precision.graph] and BUNDLE_FILES[precision.external_data]
    bundle = Bundle(tmp_path)
    (tmp_path / FP32.graph).write_bytes(b"fp32")
    assert bundle.choose_graph("auto") == tmp_path / FP32.graph
    for precision in REDUCED:
        with pytest.raises(BundleError, match=rf"{precision.graph}: no such model"):
            bundle.choose_graph(precision.name)
    (tmp_path / REDUCED[-1].graph).write_bytes(b"reduced")
    assert bundle.choose_graph("auto") == bundle.choose_graph(REDUCED[-1].name) == tmp_path / REDUCED[-1].graph
    assert bundle.choose_graph(FP32.graph) == tmp_path / FP32.graph  # a file name works too


def test_quantization_settings_name_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ValueError, match=r"quantization\.per_chanel"):
        quantize_settings_from_dict({"mode": "dynamic", "per_chanel": True})
    with pytest.raises(ValueError, match=r"quantization\.mode='int4'"):
        quantize_settings_from_dict({"mode": "int4"})


def test_modules_to_exclude_matches_exporter_module_paths() -> None:
    def node(name: str, namespace: str) -> onnx.NodeProto:
        n = onnx.helper.make_node("MatMul", ["x", "w"], ["y"], name=name)
        entry = n.metadata_props.add()
        entry.key, entry.value = "namespace", namespace
        return n

    prefix = ": trainer.exporting.onnx_graph.LogitsOnly/model: transformers.BertForSequenceClassification"
    nodes = [
        node("n_cls", f"{prefix}/model.classifier: torch.nn.Linear/linear_13: aten.linear.default"),
        node(
            "n_q",
            f"{prefix}/model.bert: BertModel/model.bert.encoder.layer.1.attention.self.query: "
            "torch.nn.Linear/linear: aten.linear.default",
        ),
    ]
    nodes.append(
        onnx.helper.make_node("MatMul", ["x", "w"], ["z"], name="/model/bert/encoder/layer.1/output/dense/MatMul")
    )
    nodes.append(onnx.helper.make_node("QAttention", ["x", "w"], ["a"], name="Attention_0_quant"))
    graph = onnx.helper.make_model(onnx.helper.make_graph(nodes, "g", [], []))
    assert module_path(nodes[1]) == "bert.encoder.layer.1.attention.self.query"  # dynamo: from metadata
    assert module_path(nodes[2]) == "bert.encoder.layer.1.output.dense"  # torchscript: from the node name
    assert module_path(nodes[3]) == ""
    assert excluded_nodes(graph, QuantizeSettings(modules_to_exclude=["classifier"])) == ["n_cls"]
    assert excluded_nodes(
        graph, QuantizeSettings(modules_to_exclude=["bert.encoder.layer.1.*"], nodes_to_exclude=["n_cls"])
    ) == ["/model/bert/encoder/layer.1/output/dense/MatMul", "n_cls", "n_q"]
    with pytest.raises(ValueError, match="matches no node"):
        excluded_nodes(graph, QuantizeSettings(modules_to_exclude=["pooler"]))
    # quantization=dynamic_faithful: every layer's FFN and attention output projection, BERT or RoBERTa naming.
    from trainer.config import compose, to_container

    faithful = quantize_settings_from_dict(
        to_container(compose("export", ["source=x", "quantization=dynamic_faithful"]))["quantization"]
    )
    outputs = [
        onnx.helper.make_node("MatMul", ["x", "w"], [f"o{i}"], name=name)
        for i, name in enumerate(
            [
                "/model/bert/encoder/layer.0/output/dense/MatMul",
                "/model/bert/encoder/layer.11/attention/output/dense/MatMul",
                "/model/roberta/encoder/layer.3/output/dense/MatMul",
                "/model/bert/encoder/layer.0/intermediate/dense/MatMul",
                "/model/bert/pooler/dense/MatMul",
            ]
        )
    ]
    kept = excluded_nodes(onnx.helper.make_model(onnx.helper.make_graph(outputs, "g", [], [])), faithful)
    assert kept == sorted(n.name for n in outputs[:3])


def test_export_config_composes_with_every_quantization_option() -> None:
    from trainer.config import compose, to_container
    from trainer.exporting.gates import gate_settings_from_dict

    for option in ("dynamic", "dynamic_faithful", "static", "fp16", "none"):
        cfg = to_container(compose("export", ["source=somewhere", f"quantization={option}"]))
        assert quantize_settings_from_dict(cfg["quantization"]).mode == option.removesuffix("_faithful")
        gate_settings_from_dict(cfg["gates"])
        assert cfg["out_dir"] is None and cfg["gates"]["parity_atol"] == 1e-4


def test_publish_into_an_embedded_store_keeps_artifacts_beside_the_database(tmp_path: Path, monkeypatch: Any) -> None:
    """An export run created in an embedded (sqlite) store keeps its artifacts in ``<db dir>/artifacts/<exp>``
    as training runs do (tracking.connection), never in ``./mlruns`` of whatever folder export ran from."""
    from trainer.tracking.publish import PublishSettings, publish_bundle
    from trainer.tracking.references import ResolvedSource

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "labels.json").write_text(json.dumps({"names": LABELS}))
    write_manifest(bundle, {})
    store = tmp_path / "store"
    uri = f"sqlite:///{store / 'mlflow.db'}"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = tmp_path / "run"
    source = ResolvedSource("run_folder", str(run), run, run / "model", None, "run")
    published = publish_bundle(bundle, source, PublishSettings("mlflow", uri, "export"), {"x": 1.0}, {"bundle": "b"})
    artifacts = store / "artifacts" / "export"
    assert published["new_run"] and published["artifact_uri"].startswith(artifacts.resolve().as_uri())
    assert [p.name for p in artifacts.rglob("manifest.json")] == ["manifest.json"]
    assert list(elsewhere.iterdir()) == [], "artifacts landed in the current directory"


# -- integration: one tiny run, exported ----------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(shared_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_demo_data()
    from trainer.config import compose
    from trainer.train import run_train

    tmp = tmp_path_factory.mktemp("export_run")
    cfg = compose("train", tiny_overrides(tmp, f"paths.cache_dir={shared_cache}"))
    result = run_train(cfg, tmp / "run")
    assert result is not None
    return result.run_dir


# The accuracy gate opened wide: for tests of what an export builds, not of the tiny model's int8 accuracy.
LOOSE_GATES = {"max_drop_overall": 100.0, "max_drop_per_language": 100.0, "max_flip_rate": 1.0}


def _export(
    run_dir: Path, out: Path, quant: QuantizeSettings | None = None, options: dict[str, Any] | None = None, **gates: Any
) -> Any:
    """``run_export`` of ``run_dir`` into ``out``, publishing nothing; ``options``: more run_export arguments."""
    from trainer.export import run_export
    from trainer.exporting.gates import GateSettings
    from trainer.tracking.publish import PublishSettings

    return run_export(
        source=str(run_dir),
        output_root=out.parent,
        out_dir=out,
        quant=quant or QuantizeSettings(),
        gates=GateSettings(**gates),
        publish=PublishSettings(),
        **(options or {}),
    )


@pytest.fixture(scope="module")
def exported(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    out = tmp_path_factory.mktemp("bundles") / "tiny"
    result = _export(trained, out)
    return SimpleNamespace(run_dir=trained, bundle=out, result=result)


@pytest.mark.integration
def test_export_writes_a_verified_bundle(exported: SimpleNamespace) -> None:
    bundle = exported.bundle
    assert {p.name for p in bundle.iterdir()} == BUNDLE_FILES
    assert not [p for p in bundle.parent.iterdir() if p.name.startswith(".")]  # no partial folder left
    manifest = verify_bundle(bundle)
    assert set(manifest["files"]) == BUNDLE_FILES - {"manifest.json"}
    assert manifest["source"]["kind"] == "run_folder" and manifest["opset"] == 17
    assert manifest["exporter"] == "torchscript" and manifest["quantization"]["fusions"]["Attention"] == 2
    assert manifest["versions"]["onnxruntime"] and manifest["versions"]["torch"]
    assert manifest["git"]["commit"] is None or len(manifest["git"]["commit"]) == 40
    assert manifest["data_digest"]["gate_data_matches_training"] is True
    assert manifest["contract"]["labels"] == LABELS
    assert [i["name"] for i in manifest["contract"]["inputs"]] == ["input_ids", "attention_mask"]

    import onnxruntime as ort

    session = ort.InferenceSession(str(bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [d.shape for d in session.get_inputs()] == [["batch", "sequence"]] * 2
    # Dynamic axes really are dynamic: batch 1 and batch 3 with different lengths both run.
    for shape in ((1, 5), (3, 17)):
        ids = np.full(shape, 6, dtype=np.int64)
        assert session.run(["logits"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0].shape == (
            shape[0],
            len(LABELS),
        )
    for name in ("model.onnx", "model.int8.onnx"):
        meta = {p.key: p.value for p in onnx.load(str(bundle / name), load_external_data=False).metadata_props}
        assert json.loads(meta["labels"])["names"] == LABELS  # labels travel inside each graph too
    assert os.path.getsize(bundle / "model.int8.onnx") < 0.5 * os.path.getsize(bundle / "model.onnx")


@pytest.mark.integration
def test_metrics_report_fp32_int8_and_every_language(exported: SimpleNamespace) -> None:
    metrics = json.loads((exported.bundle / "metrics.json").read_text())
    # Every labelled row the run has: validation and test together (issue 15 #5).
    assert metrics["split"] == "validation+test" and metrics["main_metric"] == "macro_f1"
    trained = json.loads((exported.run_dir / "metrics.json").read_text())
    assert metrics["rows"] == trained["validation"]["n"] + trained["test"]["n"] == metrics["fp32"]["n"]
    assert set(metrics["fp32"]["per_language"]) == LANGS == set(metrics["int8"]["per_language"])
    parity = metrics["gates"]["parity"]
    assert parity["passed"] and parity["max_abs_diff"] <= 1e-4 and parity["padded_rows"] > 0
    # A faithful int8 graph of a normally trained model, default settings: the paired rule passes it.
    accuracy = metrics["gates"]["accuracy"]
    assert accuracy["passed"] and set(accuracy["per_language"]) == LANGS and accuracy["rows"] == metrics["rows"]
    overall = accuracy["overall"]
    assert overall["interval"][0] <= overall["drop"] <= overall["interval"][1]
    assert overall["flip_rate"] <= 0.05 and accuracy["flips_passed"] and "paired-bootstrap" in accuracy["rule"]
    assert all("interval" in v for v in accuracy["per_language"].values())


@pytest.mark.integration
def test_predictor_runs_without_torch_and_returns_real_labels(exported: SimpleNamespace, tmp_path: Path) -> None:
    script = BLOCK_TORCH + textwrap.dedent(f"""
        import json
        from trainer.serving.predictor import BundlePredictor
        p = BundlePredictor({str(exported.bundle)!r}, verify=True)
        out = p.predict(["join the fight @someone https://x.co/a", "lovely weather today"])
        assert "torch" not in [m for m in sys.modules if sys.modules[m] is not None], "torch was imported"
        print(json.dumps(out))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert [o["label"] in LABELS for o in out] == [True, True]
    assert all(set(o["scores"]) == set(LABELS) and abs(sum(o["scores"].values()) - 1) < 1e-4 for o in out)

    # The CLI, also with torch blocked: texts on the command line and a JSONL file.
    (tmp_path / "in.jsonl").write_text('{"id": 7, "text": "recruit brothers now"}\n"plain string row"\n')
    cli = BLOCK_TORCH + "import runpy; runpy.run_module('trainer.predict', run_name='__main__')"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            cli,
            str(exported.bundle),
            "some text",
            "--jsonl",
            str(tmp_path / "in.jsonl"),
            "--model",
            "fp32",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r.get("id") for r in rows] == [None, 7, None] and rows[0]["text"] == "some text"
    assert all(r["label"] in LABELS and not r["label"].startswith("LABEL_") for r in rows)


@pytest.mark.integration
def test_predictor_matches_fp32_metrics_of_the_gate(exported: SimpleNamespace) -> None:
    """The bundle predictor on raw CSV text reproduces the gate's fp32 metrics (same normaliser)."""
    import csv

    from trainer.scoring.metrics import compute_metrics
    from trainer.serving.predictor import BundlePredictor

    rows = []
    for split in ("validation", "test"):  # the gate's rows, in its order
        with (PROJECT_ROOT / f"data/demo/{split}.csv").open(encoding="utf-8", newline="") as fh:
            rows += list(csv.DictReader(fh))
    p = BundlePredictor(exported.bundle, model="fp32")
    probs = torch.from_numpy(p.probabilities([r["text"] for r in rows]))
    targets = torch.tensor([LABELS.index(r["label"]) for r in rows])
    again = compute_metrics(probs, targets, [r["lang"] for r in rows], p.label_map, p.thresholds, "macro_f1")
    gate = json.loads((exported.bundle / "metrics.json").read_text())["fp32"]
    assert again["n"] == gate["n"]
    assert again["overall"]["macro_f1"] == pytest.approx(gate["overall"]["macro_f1"], abs=1e-6)


@pytest.mark.integration
@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_external_data_bundle_for_models_over_the_threshold(trained: Path, tmp_path: Path, exporter: str) -> None:
    """XLM-R-large's 2.2 GB is over protobuf's 2 GB: models above ``external_data_min_bytes`` keep their
    weights in one ``<graph>.data`` file beside each graph. A 1-byte threshold sends the tiny model there."""
    from trainer.serving.predictor import BundlePredictor

    out = tmp_path / "bundle"
    _export(trained, out, options={"exporter": exporter, "opset": 18, "external_data_min_bytes": 1})
    manifest = verify_bundle(out)  # the .data files are checksummed like every other file
    assert manifest["external_data"] is True
    assert {"model.onnx.data", "model.int8.onnx.data"} <= set(manifest["files"])
    graph = onnx.load(str(out / "model.onnx"), load_external_data=False)
    assert graph.ByteSize() < 1_000_000, "weights must live in model.onnx.data, not inside the graph"
    assert {"model.onnx.data"} == {
        entry.value for t in graph.graph.initializer for entry in t.external_data if entry.key == "location"
    }
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["gates"]["parity"]["passed"] and metrics["gates"]["accuracy"]["passed"]
    # Served from the bundle as shipped: both graphs find their weights, and agree with the gate's numbers.
    texts = ["join the fight @someone https://x.co/a", "lovely weather today"]
    for model in ("fp32", "int8"):
        out_rows = BundlePredictor(out, model=model, verify=True).predict(texts)
        assert [r["label"] in LABELS for r in out_rows] == [True, True]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("overrides", "graph_file"),
    [
        (["quantization=static", "quantization.calibration_rows=16"], "model.int8.onnx"),
        (["quantization=fp16"], "model.fp16.onnx"),
        (["quantization=dynamic", "quantization.modules_to_exclude=[classifier]"], "model.int8.onnx"),
    ],
    ids=["static", "fp16", "dynamic-without-classifier"],
)
def test_other_precisions_and_exclusions_reach_the_graph(
    trained: Path, tmp_path: Path, overrides: list[str], graph_file: str
) -> None:
    """The shipped quantization=static (calibrated on training rows) and fp16 configs build the graph they
    promise, and an excluded module stays fp32; the gates run on each and the bundle serves."""
    from trainer.config import compose, to_container
    from trainer.serving.predictor import BundlePredictor

    settings = quantize_settings_from_dict(to_container(compose("export", ["source=x", *overrides]))["quantization"])
    out = tmp_path / "bundle"
    _export(trained, out, settings, **LOOSE_GATES)
    manifest = verify_bundle(out)
    assert manifest["models"]["quantized"] == graph_file and manifest["quantization"]["mode"] == settings.mode
    graph = onnx.load(str(out / graph_file))
    ops = {n.op_type for n in graph.graph.node}
    initializer_types = {t.data_type for t in graph.graph.initializer}
    if settings.mode == "static":
        assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # QDQ format
        assert onnx.TensorProto.INT8 in initializer_types  # qint8 weights
    elif settings.mode == "fp16":
        assert onnx.TensorProto.FLOAT16 in initializer_types and not ops & {"QuantizeLinear", "MatMulInteger"}
        # Same contract as fp32: int64 ids in, float32 logits out.
        assert {i.type.tensor_type.elem_type for i in graph.graph.input} == {onnx.TensorProto.INT64}
        assert graph.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    else:
        excluded = manifest["quantization"]["excluded_nodes"]
        assert excluded and all("classifier" in name for name in excluded)
        # Quantised nodes take the excluded node's name as a prefix ("<name>_MatMul_quant"): there must be none.
        classifier = [n for n in graph.graph.node if n.name.startswith(tuple(excluded))]
        assert {n.op_type for n in classifier} <= {"Gemm", "MatMul", "Add"}, "the classifier must stay fp32"
        assert any(n.op_type in ("Gemm", "MatMul") for n in classifier)
        assert {"DynamicQuantizeMatMul", "MatMulInteger"} & ops, "everything else is still quantised"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["gates"]["parity"]["passed"] and set(metrics["gates"]["accuracy"]["per_language"]) == LANGS
    out_rows = BundlePredictor(out, model="auto").predict(["join the fight @someone", "lovely weather today"])
    assert [r["label"] in LABELS for r in out_rows] == [True, True]


@pytest.mark.integration
@pytest.mark.parametrize("data", ["demo_multilabel", "demo_binary"])
def test_bundle_applies_the_runs_thresholds(shared_cache: Path, tmp_path: Path, data: str) -> None:
    """Binary and multi-label runs tune thresholds on validation: the bundle must decide with them, so that
    served decisions are the run's own (multiclass bundles, tested above, use argmax)."""
    import csv

    from trainer.config import compose
    from trainer.serving.predictor import BundlePredictor
    from trainer.train import run_train

    require_demo_data()
    cfg = compose("train", tiny_overrides(tmp_path, f"data={data}", f"paths.cache_dir={shared_cache}"))
    result = run_train(cfg, tmp_path / "run")
    assert result is not None
    run_thresholds = json.loads((result.run_dir / "thresholds.json").read_text())
    bundle = tmp_path / "bundle"
    # Gates loosened: after one epoch on 160 rows the tiny model's scores span ~1e-4 around the tuned threshold,
    # so int8 rounding flips most decisions. This test serves the fp32 graph; the gates have their own tests.
    _export(result.run_dir, bundle, **LOOSE_GATES)
    predictor = BundlePredictor(bundle, model="fp32", verify=True)
    assert predictor.thresholds == pytest.approx(run_thresholds["thresholds"])
    assert predictor.thresholds != [0.5] * len(predictor.thresholds), "tuned, not the default"

    with (result.run_dir / "predictions" / "validation.csv").open(encoding="utf-8", newline="") as fh:
        saved = {row["id"]: row for row in csv.DictReader(fh)}
    with (PROJECT_ROOT / "data/demo/validation.csv").open(encoding="utf-8", newline="") as fh:
        raw = [row for row in csv.DictReader(fh) if row["id"] in saved]
    served = predictor.predict([row["text"] for row in raw])  # raw text: the bundle normalises like training
    names = list(predictor.label_map.names)
    agree = 0
    for row, out in zip(raw, served, strict=True):
        want = saved[row["id"]]
        scores = [float(want[f"score:{n}"]) for n in names]
        np.testing.assert_allclose([out["scores"][n] for n in names], scores, atol=1e-4)
        got = "|".join(out["labels"]) if "labels" in out else out["label"]
        agree += got == want["pred"]
    # A score within 1e-4 of its threshold may flip between torch and ONNX; anything more is a wrong rule.
    assert agree >= len(raw) - 1, f"{len(raw) - agree} of {len(raw)} served decisions differ from the run's"


@pytest.mark.integration
def test_accuracy_gate_on_a_given_eval_file(trained: Path, tmp_path: Path, monkeypatch: Any) -> None:
    """gates.eval_file replaces the gate's data (it may hold fewer classes than training); static calibration
    still draws from the run's training rows, never from the rows the gate scores."""
    import csv

    import trainer.exporting.build as build_module
    from trainer.config import compose, to_container
    from trainer.data import DataError

    with (PROJECT_ROOT / "data/demo/validation.csv").open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        rows = [r for r in reader if r["label"] in ("propaganda", "not_extremist")]
    eval_file = tmp_path / "held_out.csv"
    with eval_file.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, header)
        writer.writeheader()
        writer.writerows(rows)

    seen: list[list[int]] = []
    real_quantize = build_module.quantize_model

    def recording_quantize(*args: Any, **kwargs: Any) -> Any:
        seen.extend(feed["input_ids"][0].tolist() for feed in args[4])  # the calibration feeds
        return real_quantize(*args, **kwargs)

    monkeypatch.setattr(build_module, "quantize_model", recording_quantize)
    static = to_container(compose("export", ["source=x", "quantization=static"]))["quantization"]
    out = tmp_path / "bundle"
    _export(
        trained,
        out,
        quantize_settings_from_dict({**static, "calibration_rows": 8}),
        eval_file=str(eval_file),
        **LOOSE_GATES,
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"] == "eval_file" and metrics["eval_file"] == str(eval_file)
    assert metrics["rows"] == len(rows) == metrics["fp32"]["n"]
    support = {name: c["support"] for name, c in metrics["fp32"]["per_class"].items()}
    assert support["propaganda"] + support["not_extremist"] == len(rows) and support["recruitment"] == 0
    manifest = verify_bundle(out)
    assert manifest["data_digest"]["gate_data_matches_training"] is False

    from trainer.serving.predictor import BundlePredictor

    eval_ids = {tuple(ids) for ids in BundlePredictor(out, model="fp32").encode([r["text"] for r in rows])}
    assert len(seen) == 8 and not eval_ids & {tuple(ids) for ids in seen}, "calibrated on the gate's rows"

    rows[3]["label"] = "hostile"  # not one of the model's labels
    with eval_file.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, header)
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(DataError, match=r"held_out\.csv.*row 4.*'hostile'|'hostile'.*held_out\.csv"):
        _export(trained, tmp_path / "bundle2", eval_file=str(eval_file), **LOOSE_GATES)
    assert not (tmp_path / "bundle2").exists()


@pytest.mark.integration
def test_accuracy_gate_fails_a_graph_whose_classifier_scale_is_corrupted(
    trained: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    """A deliberately damaged int8 graph (the classifier's weight scale negated and blown up), default gates."""
    import trainer.exporting.build as build_module
    from trainer.exporting.gates import GateError

    real_quantize = build_module.quantize_model

    def quantize_then_corrupt(src: Path, dst: Path, *args: Any, **kwargs: Any) -> Any:
        report = real_quantize(src, dst, *args, **kwargs)
        model = onnx.load(str(dst))
        scales = [t for t in model.graph.initializer if "classifier" in t.name and t.name.endswith("scale")]
        assert scales, sorted(t.name for t in model.graph.initializer if "classifier" in t.name)
        for scale in scales:
            array = onnx.numpy_helper.to_array(scale)
            scale.CopyFrom(onnx.numpy_helper.from_array((array * -50).astype(array.dtype), scale.name))
        onnx.save(model, str(dst))
        return report

    monkeypatch.setattr(build_module, "quantize_model", quantize_then_corrupt)
    with pytest.raises(GateError, match=r"accuracy gate failed: .*rows changed decision") as err:
        _export(trained, tmp_path / "bundle")
    report = err.value.report
    assert report["flips_passed"] is False and report["overall"]["flip_interval"][0] > report["max_flip_rate"]
    assert report["rows"] == 280 and "paired-bootstrap" in report["rule"]
    assert list(tmp_path.iterdir()) == []  # no bundle, no partial folder


@pytest.mark.integration
def test_parity_gate_fails_on_a_corrupted_weight(
    trained: Path, tmp_path: Path, monkeypatch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import trainer.export as export_module
    import trainer.exporting.build as build_module
    from trainer.exporting.gates import GateError

    real_export = build_module.export_onnx

    def export_then_corrupt(*args: Any, **kwargs: Any) -> Any:
        info = real_export(*args, **kwargs)
        model = onnx.load(str(info.path))
        weight = next(t for t in model.graph.initializer if "classifier.weight" in t.name)
        array = onnx.numpy_helper.to_array(weight).copy()
        array.flat[0] += 0.5
        weight.CopyFrom(onnx.numpy_helper.from_array(array, weight.name))
        onnx.save(model, str(info.path))
        return info

    monkeypatch.setattr(build_module, "export_onnx", export_then_corrupt)
    with pytest.raises(GateError, match=r"parity gate failed: max \|logits\(onnx\) - logits\(torch\)\|") as err:
        _export(trained, tmp_path / "bundle")
    assert err.value.report["max_abs_diff"] > 1e-4
    assert list(tmp_path.iterdir()) == []  # no bundle, no partial folder

    # The command line's code path turns it into exit code 2 with the measured value in the message.
    from trainer.config import compose

    # With publishing configured (an embedded store, a model name to register), nothing is published either.
    uri = f"sqlite:///{tmp_path.parent / (tmp_path.name + '-mlruns') / 'mlflow.db'}"
    name = f"never-{uuid.uuid4().hex[:8]}"
    overrides = [f"source={trained}", f"out_dir={tmp_path / 'bundle'}", "quantization=none", "tracking=mlflow"]
    cfg = compose("export", [*overrides, f"tracking.uri={uri}", f"publish.register_model={name}"])
    assert export_module.export_command(cfg) == 2
    assert "parity gate failed" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    with pytest.raises(MlflowException):
        client.get_registered_model(name)
    experiments = [e.experiment_id for e in client.search_experiments()]
    assert not experiments or client.search_runs(experiments) == [], "a failed export logged a run"


# -- integration: MLflow sources and publication (real server) ------------------------------------------
@pytest.fixture(scope="module")
def tracked_source(trained: Path, mlflow_server: Any) -> SimpleNamespace:
    """The tiny run logged by hand: run-folder files + ``model_hf/`` (the tracker's own layout: test_tracking_mlflow)."""
    from mlflow.tracking import MlflowClient

    server = mlflow_server

    client = MlflowClient(server.uri)
    exp = client.create_experiment(f"export-src-{uuid.uuid4().hex[:8]}")
    run_id = log_run_folder(client, exp, trained, tags={}, model=True)
    source_model = f"src-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(source_model)
    artifact_uri = client.get_run(run_id).info.artifact_uri
    version = client.create_model_version(source_model, f"{artifact_uri}/model_hf", run_id=run_id)
    client.set_registered_model_alias(source_model, "champion", version.version)
    return SimpleNamespace(client=client, uri=server.uri, run_id=run_id, source_model=source_model)


@pytest.mark.integration
def test_export_from_registered_model_is_logged_and_registered(tracked_source: SimpleNamespace, tmp_path: Path) -> None:
    from trainer.export import run_export
    from trainer.exporting.gates import GateSettings
    from trainer.tracking.publish import PublishSettings

    name = f"onnx-{uuid.uuid4().hex[:8]}"
    result = run_export(
        source=f"models:/{tracked_source.source_model}@champion",
        output_root=tmp_path,
        quant=QuantizeSettings(),
        gates=GateSettings(),
        publish=PublishSettings("mlflow", tracked_source.uri, "export", name, "candidate"),
    )
    assert result.bundle == tmp_path / "export" / f"{tracked_source.source_model}-v1"
    assert result.manifest["source"]["kind"] == "registered_model"
    assert result.manifest["source"]["run_id"] == tracked_source.run_id
    client = tracked_source.client
    # Logged into the source run, and registered with the alias.
    assert result.published["run_id"] == tracked_source.run_id and not result.published["new_run"]
    logged = {a.path for a in client.list_artifacts(tracked_source.run_id, "export")}
    assert {"export/manifest.json", "export/model.int8.onnx", "export/model.onnx"} <= logged
    version = client.get_model_version_by_alias(name, "candidate")
    assert version.run_id == tracked_source.run_id and version.tags["format"] == "onnx-bundle"
    # What was registered is the bundle that passed: its manifest verifies after download.
    import mlflow

    local = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=version.source, dst_path=str(tmp_path / "dl"), tracking_uri=tracked_source.uri
        )
    )
    assert verify_bundle(local)["source"]["run_id"] == tracked_source.run_id


@pytest.mark.integration
def test_run_folder_unknown_to_mlflow_gets_a_linked_export_run(
    tracked_source: SimpleNamespace, trained: Path, tmp_path: Path
) -> None:
    from trainer.export import run_export
    from trainer.exporting.gates import GateSettings
    from trainer.tracking.publish import PublishSettings

    copy = tmp_path / "copied_run"  # no MLflow run carries this run_dir tag
    shutil.copytree(trained, copy, ignore=shutil.ignore_patterns("checkpoints"))
    experiment = f"export-{uuid.uuid4().hex[:8]}"
    result = run_export(
        source=str(copy),
        output_root=tmp_path,
        quant=QuantizeSettings(mode="none"),
        gates=GateSettings(),
        publish=PublishSettings("mlflow", tracked_source.uri, experiment),
    )
    assert result.published["new_run"] and result.published["registered"] is None
    run = tracked_source.client.get_run(result.published["run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["source"] == str(copy)
    assert run.data.tags["entry_point"] == "trainer.export"
    assert "export/parity_max_abs_diff" in run.data.metrics
    logged = {a.path for a in tracked_source.client.list_artifacts(run.info.run_id, "export")}
    assert "export/model.onnx" in logged and "export/model.int8.onnx" not in logged


@pytest.mark.integration
def test_accuracy_gate_failure_exits_2_writes_and_registers_nothing(
    tracked_source: SimpleNamespace, tmp_path: Path
) -> None:
    """The real command line, from an MLflow run id, with registration configured: the gate stops it all."""
    name, out = f"never-{uuid.uuid4().hex[:8]}", tmp_path / "bundle"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "trainer.export",
            f"source={tracked_source.run_id}",
            f"out_dir={out}",
            f"paths.output_dir={tmp_path / 'outputs'}",
            "tracking=mlflow",
            f"tracking.uri={tracked_source.uri}",
            f"publish.register_model={name}",
            "gates.max_drop_overall=-100",
            "gates.max_drop_per_language=-100",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "accuracy gate failed" in proc.stderr and "gates.max_drop_overall=-100" in proc.stderr
    for lang in LANGS:  # every failing language is named with its values
        assert f"{lang} (n=" in proc.stderr
    assert "| **all** |" in proc.stdout  # the per-language table is printed either way
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["outputs"]
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException):
        tracked_source.client.get_registered_model(name)


def test_copy_of_a_bundle_verifies_and_tampering_is_named(tmp_path: Path) -> None:
    """verify_bundle on a real-looking layout: nested files are covered too."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "w.bin").write_bytes(b"abc")
    (tmp_path / "labels.json").write_text(json.dumps({"names": LABELS}))
    write_manifest(tmp_path, {})
    copy = tmp_path.parent / f"{tmp_path.name}-copy"
    shutil.copytree(tmp_path, copy)
    verify_bundle(copy)
    (copy / "sub" / "w.bin").write_bytes(b"abd")
    with pytest.raises(BundleError, match=r"sub/w\.bin"):
        verify_bundle(copy)
