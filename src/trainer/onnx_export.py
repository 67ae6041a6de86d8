"""A transformers sequence classifier to one ONNX graph: logits out, dynamic batch and sequence axes.

We use the ``torch.export``-based exporter (``dynamo=True``, the default since torch 2.9). The legacy
TorchScript exporter traces one concrete input, and transformers' attention-mask helpers branch on
values (for instance, "this mask is all ones, skip it"), so a trace can silently drop padding
handling; ``torch.export`` captures the graph symbolically. The parity gate checks the result either way.
"""

from __future__ import annotations

import json
import logging
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


class LogitsOnly(nn.Module):
    """The classifier with plain tensor inputs and the logits tensor as its only output."""

    def __init__(self, model: PreTrainedModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **extra).logits


@dataclass(frozen=True)
class OnnxExportInfo:
    path: Path
    opset: int
    input_names: list[str]
    external_data: bool
    weight_bytes: int


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


def export_onnx(model: PreTrainedModel, input_names: list[str], path: Path, opset: int,
                external_data_min_bytes: int = DEFAULT_EXTERNAL_DATA_MIN_BYTES) -> OnnxExportInfo:
    """Write ``model`` to ``path`` (fp32, eval mode) and return what the bundle manifest needs."""
    unknown = sorted(set(input_names) - set(INPUT_NAMES))
    if unknown or "input_ids" not in input_names or "attention_mask" not in input_names:
        raise ValueError(f"tokenizer model_input_names {input_names}: export supports {list(INPUT_NAMES)} "
                         f"and needs input_ids and attention_mask")
    model = model.float().eval()
    size = weight_bytes(model)
    external = size >= external_data_min_bytes
    example = example_inputs(input_names, model.config.vocab_size, model.config.pad_token_id or 0)
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    with torch.inference_mode(False), torch.no_grad():
        program = torch.onnx.export(
            LogitsOnly(model), (), kwargs=example, input_names=input_names, output_names=["logits"],
            dynamic_shapes={name: {0: batch, 1: sequence} for name in input_names},
            opset_version=opset, dynamo=True, external_data=external, verbose=False)
    if program is None:  # only the legacy exporter returns None
        raise RuntimeError("torch.onnx.export returned no program")
    path.parent.mkdir(parents=True, exist_ok=True)
    program.save(str(path), external_data=external)
    log.info("exported %s (%.1f MB of weights%s)", path, size / 1e6, ", external data" if external else "")
    return OnnxExportInfo(path, opset, list(input_names), external, size)


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


def bundle_metadata(labels: dict, task: str, thresholds: list[float] | None, temperature: float,
                    precision: str) -> dict[str, str]:
    """What a bare ``.onnx`` file should say about itself, for callers who lost the rest of the bundle."""
    return {"labels": json.dumps(labels, ensure_ascii=False), "task": task,
            "thresholds": json.dumps(thresholds), "temperature": repr(temperature), "precision": precision,
            "producer": "trainer.export"}
