"""ONNX fixtures built with onnx.helper: clean graphs, hostile external data, custom/code ops, subgraphs."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _io() -> tuple[onnx.ValueInfoProto, onnx.ValueInfoProto]:
    return (helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4]),
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4]))


def model(nodes: list[onnx.NodeProto], initializers: list[onnx.TensorProto] | None = None,
          functions: list[onnx.FunctionProto] | None = None, opsets: dict[str, int] | None = None) -> onnx.ModelProto:
    x, y = _io()
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=initializers or [])
    imports = [helper.make_opsetid("", 17)] + [helper.make_opsetid(d, v) for d, v in (opsets or {}).items()]
    return helper.make_model(graph, opset_imports=imports, functions=functions or [], producer_name="builder")


def clean_model() -> bytes:
    w = numpy_helper.from_array(np.ones((4,), dtype=np.float32), "w")
    return model([helper.make_node("Add", ["x", "w"], ["t"]), helper.make_node("Relu", ["t"], ["y"])], [w]) \
        .SerializeToString()


def external_tensor(location: str, name: str = "w", length: int = 16) -> onnx.TensorProto:
    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=[4])
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(length))):
        entry = t.external_data.add()
        entry.key, entry.value = key, value
    return t


def external_data_model(location: str) -> bytes:
    nodes = [helper.make_node("Add", ["x", "w"], ["y"])]
    return model(nodes, [external_tensor(location)]).SerializeToString()


def custom_op_model(domain: str, op_type: str) -> bytes:
    nodes = [helper.make_node(op_type, ["x"], ["y"], domain=domain)]
    return model(nodes, opsets={domain: 1}).SerializeToString()


def if_subgraph_model(inner_domain: str, inner_op: str) -> bytes:
    """The dangerous op hides in the else-branch of an If node."""
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    then_g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "then", [], [out])
    else_g = helper.make_graph([helper.make_node(inner_op, ["x"], ["y"], domain=inner_domain)], "else", [], [out])
    cond = numpy_helper.from_array(np.array(True), "cond")
    node = helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)
    return model([node], [cond], opsets={inner_domain: 1}).SerializeToString()


def function_model(inner_domain: str, inner_op: str) -> bytes:
    """The dangerous op hides inside a model-local function."""
    fn = helper.make_function("local.fns", "Wrap", ["a"], ["b"],
                              [helper.make_node(inner_op, ["a"], ["b"], domain=inner_domain)],
                              [helper.make_opsetid("", 17), helper.make_opsetid(inner_domain, 1)])
    node = helper.make_node("Wrap", ["x"], ["y"], domain="local.fns")
    return model([node], functions=[fn], opsets={"local.fns": 1, inner_domain: 1}).SerializeToString()


def huge_tensor_model() -> bytes:
    t = TensorProto(name="big", data_type=TensorProto.FLOAT, dims=[1 << 20, 1 << 20, 1 << 10])
    return model([helper.make_node("Add", ["x", "big"], ["y"])], [t]).SerializeToString()


def huge_dim_model() -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1 << 40, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def big_external_model(directory: str, data_bytes: int) -> str:
    """A model with one external-data tensor of ``data_bytes`` bytes written beside it (for timing)."""
    import os

    n = data_bytes // 4
    with open(os.path.join(directory, "weights.bin"), "wb") as fh:
        fh.truncate(n * 4)
    t = external_tensor("weights.bin", length=n * 4)
    del t.dims[:]
    t.dims.append(n)
    path = os.path.join(directory, "model.onnx")
    with open(path, "wb") as fh:
        fh.write(model([helper.make_node("Identity", ["x"], ["y"])], [t]).SerializeToString())
    return path
