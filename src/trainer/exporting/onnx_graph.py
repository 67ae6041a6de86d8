"""A transformers sequence classifier to one ONNX graph: logits out, dynamic batch and sequence axes.

Two exporters (``exporter=``):

- ``torchscript`` (``dynamo=False``): traces eager attention into the MatMul/Softmax pattern that
  onnxruntime's transformer optimiser fuses into one ``Attention`` op, which dynamic quantisation
  turns into ``QAttention``. That fusion is what makes int8 fast on CPU (docs/benchmarks.md).
  A trace records one concrete input, so the example batch has padding (the mask path is traced)
  and the parity gate checks a padded batch and a single row.
- ``dynamo`` (``torch.export``, torch's default): captures the graph symbolically, no tracing
  pitfalls, but onnxruntime's optimiser does not fuse its attention pattern, so int8 gains less.
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import onnx
import torch
from torch import nn
from transformers import PreTrainedModel

log = logging.getLogger(__name__)

# Above this many bytes of weights the graph is written with its tensors in ``model.onnx.data``:
# protobuf cannot hold more than 2 GB, and XLM-R-large alone is 2.2 GB in fp32.
DEFAULT_EXTERNAL_DATA_MIN_BYTES = 1 << 30
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
EXPORTERS = ("torchscript", "dynamo")


class LogitsOnly(nn.Module):
    """The classifier with plain tensor inputs and the logits tensor as its only output."""

    def __init__(self, model: PreTrainedModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **extra).logits


@dataclass(frozen=True)
class OnnxExportInfo:
    path: Path
    opset: int
    input_names: list[str]
    external_data: bool
    weight_bytes: int
    exporter: str


def weight_bytes(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])


def example_inputs(input_names: list[str], vocab_size: int, pad_id: int) -> dict[str, torch.Tensor]:
    """Two rows of eight tokens, one padded: sizes above 1 so neither axis is specialised to a constant."""
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(min(5, vocab_size - 1), vocab_size, (2, 8), generator=gen)
    mask = torch.ones_like(ids)
    ids[1, 5:] = pad_id
    mask[1, 5:] = 0
    tensors = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
    return {name: tensors[name] for name in input_names}


def export_onnx(
    model: PreTrainedModel,
    input_names: list[str],
    path: Path,
    opset: int,
    external_data_min_bytes: int = DEFAULT_EXTERNAL_DATA_MIN_BYTES,
    exporter: str = "torchscript",
) -> OnnxExportInfo:
    """Write ``model`` to ``path`` (fp32, eval mode) and return what the bundle manifest needs."""
    _check_export_args(input_names, opset, exporter)
    model = model.float().eval()
    # The wrapper is a module too: export restores *its* training flag onto the model afterwards.
    wrapper = LogitsOnly(model).eval()
    size = weight_bytes(model)
    external = size >= external_data_min_bytes
    example = example_inputs(input_names, model.config.vocab_size, model.config.pad_token_id or 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        # torch.export notes that both inputs share the "batch"/"sequence" symbols, which we intend.
        warnings.filterwarnings("ignore", message=".*axis name.*will not be used")
        if exporter == "dynamo":
            batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
            program = torch.onnx.export(
                wrapper,
                (),
                kwargs=example,
                input_names=input_names,
                output_names=["logits"],
                dynamic_shapes={name: {0: batch, 1: sequence} for name in input_names},
                opset_version=opset,
                dynamo=True,
                external_data=external,
                verbose=False,
            )
            if program is None:
                raise RuntimeError("torch.onnx.export(dynamo=True) returned no program")
            program.save(str(path), external_data=external)
        else:
            _export_torchscript(wrapper, example, path, opset, external)
    log.info(
        "exported %s with %s (%.1f MB of weights%s)", path, exporter, size / 1e6, ", external data" if external else ""
    )
    return OnnxExportInfo(path, opset, list(input_names), external, size, exporter)


def _check_export_args(input_names: list[str], opset: int, exporter: str) -> None:
    unknown = sorted(set(input_names) - set(INPUT_NAMES))
    if unknown or "input_ids" not in input_names or "attention_mask" not in input_names:
        raise ValueError(
            f"tokenizer model_input_names {input_names}: export supports {list(INPUT_NAMES)} "
            f"and needs input_ids and attention_mask"
        )
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter={exporter!r} is not one of {list(EXPORTERS)}")
    if exporter == "dynamo" and opset < 18:
        raise ValueError(f"opset={opset}: exporter=dynamo writes opset 18 or later")


def _export_torchscript(
    wrapper: nn.Module, example: dict[str, torch.Tensor], path: Path, opset: int, external: bool
) -> None:
    axes = {name: {0: "batch", 1: "sequence"} for name in example} | {"logits": {0: "batch"}}
    args = tuple(example.values())

    def export_to(file: Path) -> None:
        torch.onnx.export(
            wrapper,
            args,
            str(file),
            dynamo=False,
            input_names=list(example),
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=opset,
        )

    if not external:
        export_to(path)
        return
    # The TorchScript exporter writes one file per tensor for big models: export into a scratch
    # folder, then save once with every tensor in a single model.onnx.data beside the graph.
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        raw = Path(scratch) / path.name
        export_to(raw)
        onnx.save(
            onnx.load(str(raw)),
            str(path),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=f"{path.name}.data",
        )


def write_metadata(path: Path, properties: dict[str, str]) -> None:
    """Set ``metadata_props`` in place; external weight files are referenced, never rewritten."""
    model = onnx.load(str(path), load_external_data=False)
    kept = {p.key: p.value for p in model.metadata_props if p.key not in properties}
    del model.metadata_props[:]
    for key, value in {**kept, **properties}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


def read_metadata(path: Path) -> dict[str, str]:
    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def bundle_metadata(
    labels: dict, task: str, thresholds: list[float] | None, temperature: float, precision: str
) -> dict[str, str]:
    """What a bare ``.onnx`` file should say about itself, for callers who lost the rest of the bundle."""
    return {
        "labels": json.dumps(labels, ensure_ascii=False),
        "task": task,
        "thresholds": json.dumps(thresholds),
        "temperature": repr(temperature),
        "precision": precision,
        "producer": "trainer.export",
    }
