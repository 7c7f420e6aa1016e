"""PLACEHOLDER interface (a helper is writing the real policy; keep this signature).

classify(module, name) -> Classification
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Status(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Classification:
    status: Status
    category: str  # e.g. "process-execution", "code-execution", "tensor-rebuild"
    reason: str  # one line: why it is allowed / dangerous


def classify(module: str, name: str) -> Classification:
    if module in ("os", "posix", "nt", "subprocess") or (module == "builtins" and name in ("eval", "exec")):
        return Classification(Status.DENY, "process-execution", "placeholder")
    return Classification(Status.UNKNOWN, "unknown", "placeholder")
