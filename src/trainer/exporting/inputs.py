"""What export reads before it writes anything: the run folder, the rows both gates score, the model.

The first steps of :func:`trainer.exporting.build.build_bundle`. Run-folder files come through
:class:`trainer.runs.folder.RunFolder`, targets through the one label mapping
(:func:`trainer.data.labels.encode_targets`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from trainer.data import DataSpec, LabelMap, data_spec_from_dict, prepare_data
from trainer.data.labels import encode_targets
from trainer.data.prepare import PreparedData
from trainer.data.spec import SPLITS
from trainer.exporting.gates import GateSettings
from trainer.runs.folder import RunFolder
from trainer.tracking.references import ResolvedSource


@dataclass(frozen=True)
class RunInputs:
    """What export takes from the run folder."""

    folder: RunFolder
    config: dict[str, Any]
    label_map: LabelMap
    thresholds: list[float] | None
    calibration: dict[str, Any] | None
    main_metric: str
    max_length: int

    @property
    def temperature(self) -> float:
        return float((self.calibration or {}).get("temperature", 1.0))


@dataclass(frozen=True)
class GateData:
    """The rows both gates score: the run's own data config, or ``gates.eval_file`` in every split."""

    data: PreparedData
    spec: DataSpec
    train_spec: DataSpec  # always the run's: static calibration draws from its training rows
    eval_splits: tuple[str, ...]  # the accuracy gate scores these splits' rows together
    parity_split: str
    from_file: bool

    @property
    def eval_split(self) -> str:
        """The accuracy gate's rows as ``metrics.json`` names them: ``validation+test``."""
        return "+".join(self.eval_splits)


@dataclass(frozen=True)
class GateRows:
    """The accuracy gate's rows, already normalised, with targets in the model's label order."""

    texts: list[str]
    langs: list[str]
    targets: torch.Tensor


# -- the steps, in order --------------------------------------------------------------------------------
def read_run(src: ResolvedSource, gates: GateSettings) -> RunInputs:
    run = RunFolder(src.run_dir)
    config = run.config()
    main_metric = gates.metric or run.main_metric()
    if not main_metric:
        raise ValueError(f"{run.path}: no main metric in metrics.json or module.main_metric; set gates.metric")
    return RunInputs(
        folder=run,
        config=config,
        label_map=run.label_map(),
        thresholds=run.thresholds(),
        calibration=run.calibration(),
        main_metric=main_metric,
        max_length=int(config["model"]["max_length"]),
    )


def gate_data(config: dict[str, Any], gates: GateSettings) -> GateData:
    """The run's data; a given eval file replaces every split (leakage checks off)."""
    train_spec = spec = data_spec_from_dict(config["data"])
    if gates.eval_file:
        spec = replace(
            spec,
            files={s: gates.eval_file for s in SPLITS},
            on_leakage="keep",
            max_samples={},
            # The file is every split: no validation carved from it (a run trained with validation_from_train).
            split=replace(spec.split, strategy="files", validation_from_train=None),
        )
    return GateData(
        data=prepare_data(spec),
        spec=spec,
        train_spec=train_spec,
        eval_splits=("validation",) if gates.eval_file else _held_out(gates.splits),
        parity_split="test" if gates.eval_file else gates.parity_split,
        from_file=bool(gates.eval_file),
    )


def _held_out(splits: tuple[str, ...]) -> tuple[str, ...]:
    """``gates.splits``, checked: held-out splits only (the model has seen its training rows)."""
    held_out = tuple(s for s in SPLITS if s != "train")
    unknown = [s for s in splits if s not in held_out]
    if unknown:
        raise ValueError(f"gates.splits={list(splits)}: {unknown} are not held-out splits {list(held_out)}")
    return splits


def load_model(src: ResolvedSource, exporter: str, label_map: LabelMap) -> tuple[Any, Any]:
    """The fp32 classifier in eval mode and its tokenizer; their label order must be the run's."""
    from transformers import AutoTokenizer

    from trainer.models.pooling import load_saved_classifier

    # Eager attention traces into the pattern onnxruntime fuses (onnx_graph); same numbers as sdpa.
    attention = "eager" if exporter == "torchscript" else None
    # With the head it was trained with (model.pooling=mean is not the stock class).
    model = load_saved_classifier(src.model_dir, attn_implementation=attention)
    model = model.float().eval()
    if {int(k): v for k, v in model.config.id2label.items()} != label_map.id2label:
        raise ValueError(
            f"{src.model_dir}/config.json id2label {model.config.id2label} differs from "
            f"labels.json {label_map.id2label}: the run folder is inconsistent"
        )
    return model, AutoTokenizer.from_pretrained(src.model_dir)


def gate_rows(gate: GateData, label_map: LabelMap) -> GateRows:
    """Every row of the gate's splits, in split order (validation, then test)."""
    rows = [e for split in gate.eval_splits for e in gate.data.splits[split]]
    column = gate.spec.label_column or ",".join(gate.spec.label_columns)
    # An eval file may hold fewer classes than training, never others.
    targets = encode_targets(rows, label_map, column=column, hint=" the model was trained with")
    return GateRows([e.text for e in rows], [e.lang for e in rows], torch.tensor(targets))
