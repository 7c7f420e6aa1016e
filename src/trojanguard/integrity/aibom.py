"""An AI bill of materials in CycloneDX 1.6 (ML-BOM), and its re-verification.

The BOM names every component of an ML system with a hash that can be checked again
later: the model (every file, its format, the scan verdict, the signature status, the
model card), datasets (hashes, row counts, columns), the code (git commit and whether
the work tree was dirty) and the Python environment (every distribution with its
version and the SHA-256 of its RECORD, which itself hashes every installed file).

cyclonedx-python-lib (``pip install trojanguard[bom]``, imported lazily) builds and
serialises the standard part.  Its 11.x release has no ``modelCard`` or ``data`` fields,
so they are added to its JSON output here and the *result* is validated against the
CycloneDX 1.6 JSON schema it ships: a BOM that does not validate is never returned.

Where each component lives is recorded as ``trojanguard:*`` properties, which is what
:func:`verify_bom` re-hashes.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from ..errors import InputError, UsageError, VerificationError
from .digest import Manifest, hash_file, hash_manifest, list_files

__all__ = ["BomInputs", "build_bom", "render_bom", "validate_bom", "verify_bom"]

MAX_BOM_BYTES = 256 << 20
MAX_COLUMNS_SCAN = 1000
P = "trojanguard:"
#: Formats that say nothing about what the model is (configs, cards, unknown blobs).
_NOT_MODEL = frozenset({"text", "json", "image", "empty", "unknown", "python", "protobuf"})


@dataclass(frozen=True)
class BomInputs:
    """What goes into a BOM: the model directory and the optional other components."""

    model: str
    data: Sequence[str] = ()
    code: str | None = None
    env: bool = False
    scan: bool = True
    signature_status: str = "not checked"
    workers: int | None = None
    extra_properties: Sequence[tuple[str, str]] = field(default=())


def _lib() -> Any:
    try:
        import cyclonedx.model.bom  # noqa: F401
        import cyclonedx.output.json  # noqa: F401
        import cyclonedx.validation.json  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"the AI-BOM needs the 'bom' extra (pip install 'trojanguard[bom]'): {exc}") from None
    import cyclonedx

    return cyclonedx


# --------------------------------------------------------------------------- facts


def _model_card(model_dir: str) -> dict[str, object]:
    """The YAML front matter of README.md (Hugging Face model cards), parsed safely."""
    path = os.path.join(model_dir, "README.md")
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read(1 << 20)
    except OSError:
        return {}
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    if end < 0:
        return {}
    block = text[3:end]
    try:
        import yaml  # type: ignore[import-untyped,unused-ignore]

        loaded = yaml.safe_load(block)
        return loaded if isinstance(loaded, dict) else {}
    except ImportError:
        return dict(_simple_yaml(block))
    except Exception:  # noqa: BLE001 - yaml's error classes vary; a bad card is just absent
        return {}


def _simple_yaml(block: str) -> Iterator[tuple[str, str]]:
    """``key: value`` lines, for when PyYAML is not installed."""
    for line in block.splitlines():
        key, sep, value = line.partition(":")
        if sep and key and not key.startswith((" ", "-", "#")) and value.strip():
            yield key.strip(), value.strip().strip("'\"")


def _text(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _dataset_facts(path: str) -> dict[str, str]:
    """Row count and columns of CSV / JSON Lines files (other files: hash only)."""
    lower = path.lower()
    try:
        if lower.endswith((".csv", ".tsv")):
            return _csv_facts(path, "\t" if lower.endswith(".tsv") else ",")
        if lower.endswith((".jsonl", ".ndjson")):
            return _jsonl_facts(path)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {}


def _directory_facts(paths: Sequence[str]) -> dict[str, str]:
    """Rows summed over the CSV/JSONL files of a dataset directory; the union of their columns."""
    rows, tabular = 0, 0
    columns: set[str] = set()
    for path in paths:
        facts = _dataset_facts(path)
        if "rows" in facts:
            tabular += 1
            rows += int(facts["rows"])
            columns.update(c for c in facts.get("columns", "").split(",") if c)
    out = {"format": "directory", "files": str(len(paths))}
    if tabular:
        out.update(rows=str(rows), columns=",".join(sorted(columns)), tabular_files=str(tabular))
    return out


def _csv_facts(path: str, delimiter: str) -> dict[str, str]:
    csv.field_size_limit(16 << 20)
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        header = next(reader, [])
        rows = sum(1 for _ in reader)
    return {"rows": str(rows), "columns": ",".join(header), "format": "csv"}


def _jsonl_facts(path: str) -> dict[str, str]:
    rows, bad = 0, 0
    keys: set[str] = set()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            rows += 1
            if rows <= MAX_COLUMNS_SCAN:
                try:
                    obj = json.loads(line)
                except ValueError:
                    bad += 1
                    continue
                if isinstance(obj, dict):
                    keys.update(str(k) for k in obj)
    facts = {"rows": str(rows), "columns": ",".join(sorted(keys)), "format": "jsonl"}
    if bad:
        facts["invalid_lines"] = str(bad)
    return facts


def _git(repo: str, *args: str) -> str:
    try:
        # Security assumption: --code names a repository the user trusts.  Repo-local config can
        # still define filter drivers that `git status` runs; fsmonitor hooks are disabled here.
        cmd = ["git", "-C", repo, "-c", "core.fsmonitor=false", "--no-optional-locks", *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"{repo}: cannot run git: {exc}") from None
    if done.returncode != 0:
        raise InputError(f"{repo}: not a git work tree ({done.stderr.strip().splitlines()[-1:] or 'git failed'})")
    return done.stdout.strip()


def code_state(repo: str) -> dict[str, str]:
    """The commit, dirty state and origin of a git work tree."""
    state = {"commit": _git(repo, "rev-parse", "HEAD"), "dirty": "false"}
    if _git(repo, "status", "--porcelain", "--untracked-files=normal"):
        state["dirty"] = "true"
    try:
        state["remote"] = _git(repo, "config", "--get", "remote.origin.url")
    except InputError:
        pass
    return state


def distributions() -> dict[str, tuple[str, str]]:
    """Installed distributions on ``sys.path``: name -> (version, sha256 of RECORD or "")."""
    found: dict[str, tuple[str, str]] = {}
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").strip()
        key = name.lower().replace("_", "-")
        if not name or key in found:
            continue  # the first on sys.path is the one that imports
        record = dist.read_text("RECORD")
        digest = hashlib.sha256(record.encode("utf-8")).hexdigest() if record is not None else ""
        found[key] = (dist.version, digest)
    return found


# --------------------------------------------------------------------------- build


def _props(pairs: Iterable[tuple[str, str]]) -> list[Any]:
    from cyclonedx.model import Property

    return [Property(name=k, value=v) for k, v in pairs]


def _sha256(value: str) -> list[Any]:
    from cyclonedx.model import HashAlgorithm, HashType

    return [HashType(alg=HashAlgorithm.SHA_256, content=value)]


def _formats(inputs: BomInputs, files: Sequence[Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Per-file format (content-identified) and the scan verdict properties."""
    root = os.path.abspath(inputs.model)
    if not inputs.scan:
        from ..artifact import Artifact
        from ..formats import identify

        fmts = {}
        for f in files:
            try:
                fmts[f.name] = str(identify(Artifact.from_path(f.path)).value)
            except Exception:  # noqa: BLE001 - identification is best effort here; the scan is the check
                fmts[f.name] = "unknown"
        return fmts, {"scan:verdict": "not scanned"}
    from ..scanner import scan

    report = scan([root])
    fmts = {}
    for s in report.scanned:
        rel = os.path.relpath(os.path.abspath(s.location.path), root).replace(os.sep, "/")
        fmts[rel] = str(s.format)
    verdict = "incomplete" if report.errors else "flagged" if report.findings else "clean"
    scan_props = {
        "scan:verdict": verdict,
        "scan:findings": str(len(report.findings)),
        "scan:errors": str(len(report.errors)),
        "scan:worst": report.worst.label if report.worst is not None else "none",
        "scan:rules": ",".join(sorted({f.rule.id for f in report.findings})),
    }
    return fmts, scan_props


def _main_format(manifest: Manifest, fmts: dict[str, str]) -> str:
    """The format of the largest model-format file: the weights, not the README or tokenizer."""
    ranked = sorted(manifest.resources, key=lambda r: (fmts.get(r.name, "unknown") not in _NOT_MODEL, r.size))
    return fmts.get(ranked[-1].name, "unknown") if ranked else "empty"


def _model_component(inputs: BomInputs) -> tuple[Any, dict[str, object]]:
    from cyclonedx.model.component import Component, ComponentType

    root = os.path.abspath(inputs.model)
    files = list_files(root)
    manifest = hash_manifest(root, files=files, workers=inputs.workers)
    fmts, scan_props = _formats(inputs, files)
    name = os.path.basename(root.rstrip(os.sep)) or "model"
    children = [
        Component(
            type=ComponentType.FILE,
            name=r.name,
            bom_ref=f"model:{name}/{r.name}",
            hashes=_sha256(r.sha256),
            properties=_props([(P + "format", fmts.get(r.name, "unknown")), (P + "size", str(r.size))]),
        )
        for r in manifest.resources
    ]
    card = _model_card(root)
    props = [
        (P + "kind", "model"),
        (P + "path", root),
        (P + "format", _main_format(manifest, fmts)),
        (P + "files", str(len(manifest.resources))),
        (P + "signature:status", inputs.signature_status),
        *((P + k, v) for k, v in scan_props.items()),
        *inputs.extra_properties,
    ]
    licenses = []
    if card.get("license"):
        from cyclonedx.model.license import DisjunctiveLicense

        licenses.append(DisjunctiveLicense(name=_text(card["license"])))  # free text: cards write "mit", SPDX wants "MIT"
    component = Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        name=name,
        licenses=licenses,
        version=str(card.get("version", "")) or None,
        bom_ref=f"model:{name}",
        hashes=_sha256(manifest.root_digest()),
        properties=_props(props),
        components=children,
    )
    return component, card


def _dataset_component(path: str, workers: int | None) -> Any:
    from cyclonedx.model.component import Component, ComponentType

    full = os.path.abspath(path)
    if os.path.isdir(full):
        files = list_files(full)
        digest = hash_manifest(full, files=files, workers=workers).root_digest()
        facts: dict[str, str] = _directory_facts([f.path for f in files])
    elif os.path.isfile(full):
        digest = hash_file(full)
        facts = _dataset_facts(full)
    else:
        raise InputError(f"{path}: no such dataset file or directory")
    name = os.path.basename(full.rstrip(os.sep))
    props = [(P + "kind", "dataset"), (P + "path", full), *((P + "data:" + k, v) for k, v in facts.items())]
    return Component(
        type=ComponentType.DATA, name=name, bom_ref=f"data:{name}:{digest[:12]}", hashes=_sha256(digest), properties=_props(props)
    ), facts


def _code_component(repo: str) -> Any:
    from cyclonedx.model import ExternalReference, ExternalReferenceType, XsUri
    from cyclonedx.model.component import Component, ComponentType

    full = os.path.abspath(repo)
    state = code_state(full)
    refs = []
    if state.get("remote"):
        try:
            refs.append(ExternalReference(type=ExternalReferenceType.VCS, url=XsUri(state["remote"])))
        except Exception:  # noqa: BLE001 - an odd remote URL is left out, not fatal
            pass
    props = [(P + "kind", "code"), (P + "path", full), ("git:commit", state["commit"]), ("git:dirty", state["dirty"])]
    return Component(
        type=ComponentType.APPLICATION,
        name=os.path.basename(full.rstrip(os.sep)) or "code",
        version=state["commit"],
        bom_ref="code:" + state["commit"][:12],
        external_references=refs,
        properties=_props(props),
    )


def _env_component() -> Any:
    from cyclonedx.model.component import Component, ComponentType
    from packageurl import PackageURL

    children = []
    for key, (version, record) in sorted(distributions().items()):
        children.append(
            Component(
                type=ComponentType.LIBRARY,
                name=key,
                version=version,
                bom_ref=f"pypi:{key}@{version}",
                purl=PackageURL(type="pypi", name=key, version=version),
                hashes=_sha256(record) if record else None,
                properties=_props([(P + "record", "present" if record else "missing")]),
            )
        )
    version = ".".join(str(v) for v in sys.version_info[:3])
    return Component(
        type=ComponentType.PLATFORM,
        name="python",
        version=version,
        bom_ref="env:python",
        properties=_props([(P + "kind", "environment"), (P + "python:implementation", sys.implementation.name)]),
        components=children,
    )


def build_bom(inputs: BomInputs) -> dict[str, Any]:
    """Build, extend (modelCard, data) and validate the BOM; returns its JSON object."""
    _lib()
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6

    if not os.path.isdir(inputs.model):
        raise InputError(f"{inputs.model}: not a directory")
    model, card = _model_component(inputs)
    datasets = [_dataset_component(p, inputs.workers) for p in inputs.data]
    bom = Bom()
    system = Component(type=ComponentType.APPLICATION, name=f"{model.name} (ML system)", bom_ref="system")
    bom.metadata.component = system
    bom.components.add(model)
    for ds, _ in datasets:
        bom.components.add(ds)
    parts = [model, *(ds for ds, _ in datasets)]
    if inputs.code:
        code = _code_component(inputs.code)
        bom.components.add(code)
        parts.append(code)
    if inputs.env:
        env = _env_component()
        bom.components.add(env)
        parts.append(env)
        bom.register_dependency(env, list(env.components))
    bom.register_dependency(system, parts)
    bom.register_dependency(model, [ds for ds, _ in datasets])
    doc: dict[str, Any] = json.loads(JsonV1Dot6(bom).output_as_string())
    _add_ml_fields(doc, card, {ds.bom_ref.value: facts for ds, facts in datasets})
    validate_bom(json.dumps(doc))
    return doc


def _add_ml_fields(doc: dict[str, Any], card: dict[str, object], dataset_facts: dict[str | None, dict[str, str]]) -> None:
    """Add what cyclonedx-python-lib 11 cannot express: ``modelCard`` and ``data``."""
    data_refs = [ref for ref in dataset_facts if ref]
    for comp in doc.get("components", []):
        if comp.get("type") == "machine-learning-model":
            params: dict[str, Any] = {}
            if card.get("pipeline_tag"):
                params["task"] = _text(card["pipeline_tag"])
            if card.get("model_type") or card.get("library_name"):
                params["architectureFamily"] = _text(card.get("model_type") or card.get("library_name"))
            if data_refs:
                params["datasets"] = [{"ref": ref} for ref in data_refs]
            model_card: dict[str, Any] = {"bom-ref": comp["bom-ref"] + "#model-card"}
            if params:
                model_card["modelParameters"] = params
            card_props = [{"name": f"model-card:{k}", "value": _text(v)} for k, v in sorted(card.items()) if v not in (None, "")]
            if card_props:
                model_card["properties"] = card_props
            comp["modelCard"] = model_card
        elif comp.get("type") == "data":
            facts = dataset_facts.get(comp.get("bom-ref"), {})
            entry: dict[str, Any] = {"type": "dataset", "name": comp["name"]}
            if facts:
                entry["contents"] = {"properties": [{"name": k, "value": v} for k, v in sorted(facts.items())]}
            comp["data"] = [entry]


def render_bom(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def validate_bom(text: str) -> None:
    """Raise :class:`VerificationError` unless ``text`` is a valid CycloneDX 1.6 JSON BOM."""
    _lib()
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    try:
        json.loads(text)  # the validator raises on bad JSON; say so in one line
        error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    except (ValueError, RecursionError) as exc:
        raise VerificationError(f"BOM is not valid JSON: {type(exc).__name__}: {str(exc)[:200]}") from None
    if error is not None:
        raise VerificationError(f"BOM does not validate against CycloneDX 1.6: {str(error)[:500]}")


# --------------------------------------------------------------------------- verify


def _prop(comp: dict[str, Any], name: str) -> str | None:
    for p in comp.get("properties", []) or []:
        if isinstance(p, dict) and p.get("name") == name:
            return str(p.get("value"))
    return None


def _recorded_sha256(comp: dict[str, Any]) -> str | None:
    for h in comp.get("hashes", []) or []:
        if isinstance(h, dict) and h.get("alg") == "SHA-256":
            return str(h.get("content"))
    return None


def _verify_model(comp: dict[str, Any], workers: int | None) -> list[str]:
    path = _prop(comp, P + "path") or ""
    name = comp.get("name", "?")
    if not os.path.isdir(path):
        return [f"model {name}: {path} is missing"]
    recorded = {str(c.get("name")): _recorded_sha256(c) for c in comp.get("components", []) or [] if isinstance(c, dict)}
    try:
        now = hash_manifest(path, workers=workers).digests()
    except InputError as exc:
        return [f"model {name}: {exc}"]
    drifts = [f"model {name}: {f} modified" for f in sorted(recorded.keys() & now.keys()) if recorded[f] != now[f]]
    drifts += [f"model {name}: {f} added" for f in sorted(now.keys() - recorded.keys())]
    drifts += [f"model {name}: {f} removed" for f in sorted(recorded.keys() - now.keys())]
    return drifts


def _verify_dataset(comp: dict[str, Any], workers: int | None) -> list[str]:
    path = _prop(comp, P + "path") or ""
    name = comp.get("name", "?")
    try:
        if os.path.isdir(path):
            digest = hash_manifest(path, workers=workers).root_digest()
        elif os.path.isfile(path):
            digest = hash_file(path)
        else:
            return [f"dataset {name}: {path} is missing"]
    except InputError as exc:
        return [f"dataset {name}: {exc}"]
    return [] if digest == _recorded_sha256(comp) else [f"dataset {name}: content changed ({path})"]


def _verify_code(comp: dict[str, Any]) -> list[str]:
    path = _prop(comp, P + "path") or ""
    name = comp.get("name", "?")
    try:
        state = code_state(path)
    except InputError as exc:
        return [f"code {name}: {exc}"]
    drifts = []
    if state["commit"] != _prop(comp, "git:commit"):
        drifts.append(f"code {name}: commit {_prop(comp, 'git:commit')} -> {state['commit']}")
    if state["dirty"] != _prop(comp, "git:dirty"):
        drifts.append(f"code {name}: work tree dirty {_prop(comp, 'git:dirty')} -> {state['dirty']}")
    return drifts


def _verify_env(comp: dict[str, Any]) -> list[str]:
    version = ".".join(str(v) for v in sys.version_info[:3])
    drifts = [] if comp.get("version") == version else [f"environment: python {comp.get('version')} -> {version}"]
    now = distributions()
    recorded: dict[str, dict[str, Any]] = {
        str(c.get("name")): c for c in comp.get("components", []) or [] if isinstance(c, dict)
    }
    for key in sorted(recorded.keys() - now.keys()):
        drifts.append(f"environment: {key} removed")
    for key in sorted(now.keys() - recorded.keys()):
        drifts.append(f"environment: {key} {now[key][0]} added")
    for key in sorted(now.keys() & recorded.keys()):
        version_now, record_now = now[key]
        before = recorded[key]
        if before.get("version") != version_now:
            drifts.append(f"environment: {key} {before.get('version')} -> {version_now}")
        elif (_recorded_sha256(before) or "") != record_now:
            drifts.append(f"environment: {key} {version_now} RECORD changed")
    return drifts


def verify_bom(text: str, *, workers: int | None = None) -> int:
    """Re-hash every component of a BOM; raise :class:`VerificationError` listing every drift.

    Returns the number of components checked.
    """
    if len(text) > MAX_BOM_BYTES:
        raise InputError(f"BOM is larger than {MAX_BOM_BYTES} bytes")
    validate_bom(text)
    doc = json.loads(text)
    drifts: list[str] = []
    checked = 0
    for comp in doc.get("components", []):
        kind = _prop(comp, P + "kind")
        if kind == "model":
            drifts += _verify_model(comp, workers)
        elif kind == "dataset":
            drifts += _verify_dataset(comp, workers)
        elif kind == "code":
            drifts += _verify_code(comp)
        elif kind == "environment":
            drifts += _verify_env(comp)
        else:
            continue
        checked += 1
    if not checked:
        raise VerificationError("BOM names no component trojanguard can re-verify")
    if drifts:
        raise VerificationError(f"{len(drifts)} drift(s): " + "; ".join(drifts))
    return checked


def read_text(path: str) -> str:
    """Read a BOM file (bounded)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BOM_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 JSON") from None

