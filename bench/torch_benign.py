"""Write benign checkpoints with the real ``torch.save`` / ``torch.jit.save`` (trusted objects only).

Why: hand-assembled state dicts are close to what torch writes but not identical (memo
layout, storage classes, extra records); a scanner's false-positive rate must be measured
on what torch itself produces.  Runs under ``bench/.peers-venv/bin/python`` (the only venv
with torch); ``bench/corpus.py`` calls it and skips this part when torch is missing.
Nothing is loaded — only saved.

Usage::

    bench/.peers-venv/bin/python bench/torch_benign.py OUT_DIR
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

import torch
from torch import nn


def _models() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {
        "mlp": nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 10)),
        "cnn": nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.LazyLinear(10)),
        "lstm": nn.LSTM(16, 32, num_layers=2),
        "embedding": nn.Embedding(1000, 16),
    }


def write_all(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in _models().items():
        if name == "cnn":
            model(torch.zeros(1, 3, 8, 8))  # materialise the lazy layer
        sd = model.state_dict()
        paths = {
            f"{name}_state_dict.pt": lambda p, sd=sd: torch.save(sd, p),
            f"{name}_state_dict_legacy.bin": lambda p, sd=sd: torch.save(sd, p, _use_new_zipfile_serialization=False),
            f"{name}_half.pth": lambda p, sd=sd: torch.save({k: v.half() for k, v in sd.items()}, p),
        }
        for fname, save in paths.items():
            save(out / fname)
            written.append(out / fname)
    model = _models()["mlp"]
    opt = torch.optim.Adam(model.parameters())
    model(torch.zeros(2, 32)).sum().backward()
    opt.step()
    ckpt = {
        "epoch": 3,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "metrics": collections.OrderedDict(loss=0.5, acc=0.9),
        "args": {"lr": 1e-3, "layers": [32, 64, 10], "name": "mlp"},
    }
    torch.save(ckpt, out / "training_checkpoint.pt")
    written.append(out / "training_checkpoint.pt")
    torch.save(torch.arange(100, dtype=torch.int64), out / "tensor_int64.pt")
    written.append(out / "tensor_int64.pt")
    scripted = torch.jit.script(_models()["mlp"])
    torch.jit.save(scripted, str(out / "mlp_scripted.jit"))
    written.append(out / "mlp_scripted.jit")
    return written


class _Hook:
    """A trusted stand-in for an attacker's object: pickling it records a call, nothing runs."""

    def __init__(self, func: object, *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.func, self.args


def write_malicious(out: Path) -> list[Path]:
    """Real torch.save output with a payload object *inside* an ordinary state dict."""
    import builtins
    import os
    import subprocess

    out.mkdir(parents=True, exist_ok=True)
    sd = _models()["mlp"].state_dict()
    hooks = {
        "os_system": _Hook(os.system, "id"),
        "builtins_exec": _Hook(builtins.exec, "import os; os.system('id')"),
        "subprocess_popen": _Hook(subprocess.Popen, ["id"]),
    }
    written = []
    for name, hook in hooks.items():
        for fname, kwargs in (
            (f"{name}_in_state_dict.pt", {}),
            (f"{name}_in_state_dict_legacy.bin", {"_use_new_zipfile_serialization": False}),
        ):
            torch.save({**sd, "_metadata_hook": hook}, out / fname, **kwargs)  # type: ignore[arg-type]
            written.append(out / fname)
    return written


if __name__ == "__main__":
    files = write_all(Path(sys.argv[1]))
    if len(sys.argv) > 2:
        files += write_malicious(Path(sys.argv[2]))
    print(f"{len(files)} torch files")
