"""A hand-made ONNX classifier for serving tests: masked mean of token embeddings -> linear (-> + bias).

Padding cannot change a row's logits (the mean counts real tokens only), so batched inference must equal
one text at a time; real onnxruntime runs it in microseconds, without torch.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

INPUTS = ("input_ids", "attention_mask")


def masked_mean_graph(
    vocab: int, labels: int, hidden: int, scale: float = 1.0, bias: bool = False, seed: int = 0
) -> onnx.ModelProto:
    """Weights drawn from ``seed`` in the order E, W (times ``scale``), b; inputs ``INPUTS``, output ``logits``."""
    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(rng.normal(size=(vocab, hidden)).astype(np.float32), "E"),
        numpy_helper.from_array((scale * rng.normal(size=(hidden, labels))).astype(np.float32), "W"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "seq_axis"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "last_axis"),
    ]
    nodes = [
        helper.make_node("Gather", ["E", "input_ids"], ["emb"]),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "last_axis"], ["mask3"]),
        helper.make_node("Mul", ["emb", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "seq_axis"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask3", "seq_axis"], ["count"], keepdims=0),
        helper.make_node("Div", ["summed", "count"], ["mean"]),
        helper.make_node("MatMul", ["mean", "W"], ["proj" if bias else "logits"]),
    ]
    if bias:
        inits.append(numpy_helper.from_array(rng.normal(size=(labels,)).astype(np.float32), "b"))
        nodes.append(helper.make_node("Add", ["proj", "b"], ["logits"]))
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"]) for n in INPUTS]
    output = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", labels])
    graph = helper.make_graph(nodes, "toy", inputs, [output], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
