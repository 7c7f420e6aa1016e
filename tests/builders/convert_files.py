"""Fixtures for safe conversion: torch-format checkpoints with views, ties and many dtypes.

Why: tests/builders/torchfiles.py imitates ``torch.save`` for contiguous float tensors;
conversion also has to get strided views, tied (memo-shared) tensors, shared storages,
bf16/fp16/int8/bool and nested containers right, and must do so without torch installed.
Everything is assembled opcode by opcode; nothing is ever loaded.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from builders.pickles import PickleBuilder
from builders.torchfiles import LEGACY_MAGIC, zip_bytes

ITEMSIZE = {"FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "CharStorage": 1, "BoolStorage": 1,
            "LongStorage": 8, "DoubleStorage": 8, "IntStorage": 4, "ByteStorage": 1, "ShortStorage": 2}


@dataclass(frozen=True)
class View:
    """A named tensor: ``shape``/``stride``/``offset`` over storage ``key`` (``tie`` = same object as another name)."""

    name: str
    key: str
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    offset: int = 0
    storage: str = "FloatStorage"
    tie: str | None = None
    parameter: bool = False


def _tensor(p: PickleBuilder, v: View, numel: dict[str, int], legacy: bool) -> None:
    if v.parameter:
        p.global_("torch._utils", "_rebuild_parameter")
        p.mark()
    p.global_("torch._utils", "_rebuild_tensor_v2")
    p.mark()
    p.mark().value("storage").global_("torch", v.storage).value(v.key).value("cpu").value(numel[v.key])
    if legacy:
        p.none()
    p.tuple_().binpersid()
    p.value(v.offset)
    p.mark()
    for s in v.shape:
        p.value(s)
    p.tuple_()
    p.mark()
    for s in v.stride:
        p.value(s)
    p.tuple_()
    p.newfalse()
    p.global_("collections", "OrderedDict").empty_tuple().reduce()
    p.tuple_().reduce()
    if v.parameter:
        p.newtrue()
        p.global_("collections", "OrderedDict").empty_tuple().reduce()
        p.tuple_().reduce()


def state_pickle(views: Sequence[View], numel: dict[str, int], *, legacy: bool = False,
                 metadata: dict[str, object] | None = None) -> bytes:
    """``{"state_dict": OrderedDict(views), "meta": {...}}`` as torch.save would pickle it."""
    p = PickleBuilder(2).proto()
    p.empty_dict().mark()
    p.value("state_dict")
    p.global_("collections", "OrderedDict").empty_tuple().reduce()
    p.mark()
    memo: dict[str, int] = {}
    for v in views:
        p.value(v.name)
        if v.tie is not None:
            p.binget(memo[v.tie])
            continue
        _tensor(p, v, numel, legacy)
        memo[v.name] = len(memo)
        p.binput(memo[v.name])
    p.setitems()
    for key, value in (metadata or {}).items():
        p.value(key).value(value)
    p.setitems().stop()
    return p.bytes()


def torch_zip_with(views: Sequence[View], storages: dict[str, bytes], **meta: object) -> bytes:
    numel = {k: len(b) // _itemsize(views, k) for k, b in storages.items()}
    members: list[tuple[str, bytes | int]] = [("archive/data.pkl", state_pickle(views, numel, metadata=meta)),
                                              ("archive/byteorder", b"little")]
    members += [(f"archive/data/{k}", b) for k, b in storages.items()]
    members.append(("archive/version", b"3\n"))
    return zip_bytes(members)


def legacy_with(views: Sequence[View], storages: dict[str, bytes]) -> bytes:
    numel = {k: len(b) // _itemsize(views, k) for k, b in storages.items()}
    magic = PickleBuilder(2).proto().long1(LEGACY_MAGIC).stop().bytes()
    proto = PickleBuilder(2).proto().value(1001).stop().bytes()
    info = PickleBuilder(2).proto().empty_dict().stop().bytes()
    keys = PickleBuilder(2).proto().empty_list().mark()
    for k in storages:
        keys.value(k)
    out = magic + proto + info + state_pickle(views, numel, legacy=True) + keys.appends().stop().bytes()
    for k, b in storages.items():
        out += struct.pack("<q", numel[k]) + b
    return out


def _itemsize(views: Sequence[View], key: str) -> int:
    return next(ITEMSIZE[v.storage] for v in views if v.key == key)


def object_npy(payload: bytes) -> bytes:
    """A .npy whose dtype is object: the body is a pickle (``payload``)."""
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += " " * (-(10 + len(header) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


# --------------------------------------------------------------------------- legacy tar (torch < 0.4)

StorageView = tuple[str, str, int, int]
"""``(view_key, root_key, offset, numel)``: a storage that is a window of another one."""


def _pickled(value: object) -> bytes:
    """A protocol-2 pickle of a plain int/str/list value (a count, the view list)."""
    p = PickleBuilder(2).proto()
    if isinstance(value, list):
        p.empty_list()
        if value:
            p.mark()
            for item in value:
                p.mark()
                for v in item:
                    p.value(v)
                p.tuple_()
            p.appends()
    else:
        p.value(value)
    return p.stop().bytes()


def _type_record(first: object, second: object, module: str, name: str) -> bytes:
    p = PickleBuilder(2).proto().mark()
    for v in (first, second):
        p.none() if v is None else p.value(v)
    return p.global_(module, name).tuple_().stop().bytes()


def tar_storages(storages: dict[str, bytes], types: dict[str, str], views: Sequence[StorageView] = (),
                 *, count: int | None = None, numel: dict[str, int] | None = None) -> bytes:
    """The ``storages`` member: count, per storage a record + int64 numel + bytes, then the views."""
    out = _pickled(len(storages) if count is None else count)
    for key, data in storages.items():
        stype = types.get(key, "FloatStorage")
        n = (numel or {}).get(key, len(data) // ITEMSIZE[stype])
        out += _type_record(key, "cpu", "torch", stype) + struct.pack("<q", n) + data
    return out + _pickled([list(v) for v in views])


def tar_tensors(views: Sequence[View], *, count: int | None = None) -> tuple[bytes, dict[str, int]]:
    """The ``tensors`` member and the tensor key of each (untied) view name."""
    own = [v for v in views if v.tie is None]
    keys = {v.name: 100 + i for i, v in enumerate(own)}  # torch keyed tensors by id(): ints
    out = _pickled(len(own) if count is None else count)
    for v in own:
        tensor_type = v.storage.replace("Storage", "Tensor")
        out += _type_record(keys[v.name], v.key, "torch", tensor_type)
        out += struct.pack("<ii", len(v.shape), 0)
        out += struct.pack(f"<{2 * len(v.shape) + 1}q", *v.shape, *v.stride, v.offset)
    for v in views:
        if v.tie is not None:
            keys[v.name] = keys[v.tie]
    return out, keys


def tar_object(views: Sequence[View], keys: dict[str, int], **meta: object) -> bytes:
    """The ``pickle`` member: ``{"state_dict": OrderedDict(name -> persistent tensor key), **meta}``."""
    p = PickleBuilder(2).proto().empty_dict().mark().value("state_dict")
    p.global_("collections", "OrderedDict").empty_tuple().reduce().mark()
    for v in views:
        p.value(v.name).binunicode(str(keys[v.name])).binpersid()  # persistent_id was str(id(obj))
    p.setitems()
    for key, value in meta.items():
        p.value(key).value(value)
    return p.setitems().stop().bytes()


def sys_info(little_endian: bool = True) -> bytes:
    p = PickleBuilder(2).proto().empty_dict().mark()
    p.value("protocol_version").value(1001).value("little_endian")
    p.newtrue() if little_endian else p.newfalse()
    return p.value("type_sizes").empty_dict().setitems().stop().bytes()


def legacy_tar_members_with(views: Sequence[View], storages: dict[str, bytes], storage_views: Sequence[StorageView] = (),
                            **meta: object) -> dict[str, bytes]:
    """The four members of a torch < 0.4 checkpoint of ``views`` (a view may name a storage-view key)."""
    types = {v.key: v.storage for v in views if v.key in storages}
    tensors, keys = tar_tensors(views)
    return {
        "sys_info": sys_info(),
        "pickle": tar_object(views, keys, **meta),
        "storages": tar_storages(storages, types, storage_views),
        "tensors": tensors,
    }


TarEntry = tuple[str, bytes]
"""``(name, data)``; a name ``"symlink:NAME->TARGET"`` writes a symbolic link instead."""


def tar_bytes(entries: Sequence[TarEntry], fmt: int | None = None) -> bytes:
    """An uncompressed tar of ``entries`` in order (duplicates, odd names and links allowed)."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT if fmt is None else fmt) as tar:
        for name, data in entries:
            if name.startswith("symlink:"):
                link, _, target = name[len("symlink:"):].partition("->")
                info = tarfile.TarInfo(link)
                info.type, info.linkname = tarfile.SYMTYPE, target
                tar.addfile(info)
                continue
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def legacy_tar_with(views: Sequence[View], storages: dict[str, bytes], storage_views: Sequence[StorageView] = (),
                    **meta: object) -> bytes:
    return tar_bytes(list(legacy_tar_members_with(views, storages, storage_views, **meta).items()))


# --------------------------------------------------------------------------- scikit-learn / joblib -> skops
# Fitted estimators are built from trusted objects in the test process and written with
# pickle.dumps / joblib.dump (writing is safe; only loading executes).  The hostile files are
# written the same way from objects whose pickled form names a dangerous global.


def sklearn_models() -> dict[str, object]:
    """Small fitted models: logistic regression, a forest (Tree reduce), a scaler+SVC and a text pipeline."""
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 5))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    docs = ["cheap pills now", "meeting at noon", "win money now", "lunch at noon today"] * 4
    return {
        "logreg": LogisticRegression().fit(x, y),
        "forest": RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y),
        "svc": make_pipeline(StandardScaler(), SVC()).fit(x, y),
        "tfidf": make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(docs, [1, 0, 1, 0] * 4),
    }


def sklearn_file(obj: object, how: str) -> bytes:
    """``obj`` as ``pickle`` (protocol 2/4/5: ``p2``...), ``joblib`` or ``joblib3`` (compress=3) / ``joblib-gzip``."""
    import io
    import pickle

    if how.startswith("p"):
        return pickle.dumps(obj, protocol=int(how[1:]))
    import joblib

    buf = io.BytesIO()
    compress: object = {"joblib": 0, "joblib3": 3, "joblib-gzip": ("gzip", 3)}[how]
    joblib.dump(obj, buf, compress=compress)  # type: ignore[arg-type]
    return buf.getvalue()


class _TreeWith:
    """Pickles as ``sklearn.tree._tree.Tree(4, [2], 1)`` with a chosen (hostile) state."""

    def __init__(self, state: dict[str, object], n_features: int = 4) -> None:
        self.state, self.n_features = state, n_features

    def __reduce__(self) -> tuple[object, ...]:
        import numpy as np
        from sklearn.tree._tree import Tree

        return (Tree, (self.n_features, np.array([2], dtype=np.intp), 1), self.state)


def tree_with_bad_child() -> bytes:
    """A Tree whose root points at a child past the node array (an out-of-bounds read at predict)."""
    import pickle

    import numpy as np
    from sklearn.tree import DecisionTreeClassifier

    x = np.arange(40, dtype=float).reshape(10, 4)
    tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(x, [0] * 5 + [1] * 5).tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    nodes["left_child"][0] = 10_000
    state["nodes"] = nodes
    return pickle.dumps(_TreeWith(state), protocol=4)


def hostile_sklearn_files() -> dict[str, bytes]:
    """A FunctionTransformer(func=os.system), a non-allowlisted class and a bad tree, as pickle and joblib."""
    import collections
    import os
    import pickle

    from sklearn.preprocessing import FunctionTransformer

    out = {
        "function-transformer-os-system.pkl": pickle.dumps(FunctionTransformer(func=os.system), protocol=4),
        "counter-not-allowlisted.pkl": pickle.dumps(collections.Counter(a=1), protocol=4),
        "tree-child-out-of-bounds.pkl": tree_with_bad_child(),
    }
    out["function-transformer-os-system.joblib"] = sklearn_file(FunctionTransformer(func=os.system), "joblib3")
    return out


def tree_built_twice() -> bytes:
    """A valid Tree BUILD followed by a second BUILD with out-of-bounds nodes (a validation bypass attempt)."""
    import pickle

    import numpy as np
    from sklearn.tree import DecisionTreeClassifier

    x = np.arange(40, dtype=float).reshape(10, 4)
    state = DecisionTreeClassifier(max_depth=2, random_state=0).fit(x, [0] * 5 + [1] * 5).tree_.__getstate__()
    bad = dict(state, nodes=state["nodes"].copy())
    bad["nodes"]["left_child"][0] = 10_000
    first = pickle.dumps(_TreeWith(state), protocol=2)
    second = pickle.dumps(bad, protocol=2)
    assert first.endswith(b"b.") and second.startswith(b"\x80\x02")
    return first[:-1] + second[2:-1] + b"b."


def forest_with_a_wider_tree() -> bytes:
    """A forest whose first tree expects more features than the forest checks its input for."""
    import pickle

    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    x = np.random.default_rng(1).normal(size=(40, 6))
    y = (x[:, 5] > 0).astype(int)
    forest = RandomForestClassifier(n_estimators=2, random_state=0).fit(x[:, :3], y)
    forest.estimators_[0] = DecisionTreeClassifier(random_state=0).fit(x, y)
    return pickle.dumps(forest, protocol=4)


def unsupported_sklearn_files() -> dict[str, bytes]:
    """Real estimators the vocabulary cannot express safely: refused, not converted."""
    import pickle

    import numpy as np
    from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, IsolationForest

    x = np.random.default_rng(2).normal(size=(60, 3))
    y = (x[:, 0] > 0).astype(int)
    return {
        "isolation-forest.pkl": pickle.dumps(IsolationForest(n_estimators=3, random_state=0).fit(x), protocol=4),
        "gradient-boosting.pkl": pickle.dumps(GradientBoostingClassifier(n_estimators=3).fit(x, y), protocol=4),
        "hist-gradient-boosting.pkl": pickle.dumps(HistGradientBoostingClassifier(max_iter=3).fit(x, y), protocol=4),
    }
