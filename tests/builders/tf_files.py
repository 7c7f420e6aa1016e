"""Write TensorFlow GraphDef / SavedModel / keras_metadata protobufs by hand (no TF needed).

Field numbers follow tensorflow/core/framework/{graph,node_def,function}.proto and
tensorflow/core/protobuf/{saved_model,meta_graph}.proto.
"""

from __future__ import annotations

import json
from typing import Any


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_bytes(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def node(name: str, op: str, tensor_bytes: int = 0) -> bytes:
    """A NodeDef; ``tensor_bytes`` adds an attr with that many bytes of tensor content."""
    body = field_bytes(1, name.encode()) + field_bytes(2, op.encode())
    if tensor_bytes:
        tensor = field_bytes(4, b"\x00" * tensor_bytes)  # TensorProto.tensor_content
        attr_value = field_bytes(8, tensor)  # AttrValue.tensor
        body += field_bytes(5, field_bytes(1, b"value") + field_bytes(2, attr_value))  # map entry
    return body


def function(name: str, nodes: list[bytes]) -> bytes:
    signature = field_bytes(1, name.encode())
    return field_bytes(1, signature) + b"".join(field_bytes(3, n) for n in nodes)


def graphdef(nodes: list[bytes], functions: list[bytes] | None = None) -> bytes:
    body = b"".join(field_bytes(1, n) for n in nodes)
    if functions:
        body += field_bytes(2, b"".join(field_bytes(1, f) for f in functions))
    body += field_bytes(4, field_varint(1, 1808))  # versions
    return body


def saved_model(graph: bytes) -> bytes:
    meta_info = field_bytes(1, field_bytes(3, b"serve"))  # meta_info_def.tags
    meta_graph = meta_info + field_bytes(2, graph)
    return field_varint(1, 1) + field_bytes(2, meta_graph)


def standard_saver_functions() -> list[bytes]:
    """What tf.saved_model.save emits for checkpointing: must stay silent."""
    save = function("__inference__traced_save_123", [node("ShardedFilename", "ShardedFilename"),
                                                      node("SaveV2", "SaveV2"),
                                                      node("MergeV2Checkpoints", "MergeV2Checkpoints")])
    restore = function("__inference__traced_restore_456", [node("RestoreV2", "RestoreV2")])
    return [save, restore]


def clean_graph(tensor_bytes: int = 0) -> bytes:
    return graphdef([node("x", "Placeholder"), node("w", "Const", tensor_bytes), node("y", "MatMul"),
                     node("out", "Relu")])


def keras_metadata(layers: list[dict[str, Any]]) -> bytes:
    body = b""
    for i, layer in enumerate(layers):
        saved = field_varint(2, i) + field_bytes(3, f"root.layer-{i}".encode()) + \
            field_bytes(4, b"_tf_keras_layer") + field_bytes(5, json.dumps(layer).encode())
        body += field_bytes(1, saved)
    return body
