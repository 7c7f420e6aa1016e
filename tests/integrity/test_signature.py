"""Sign/verify round trips (key and certificate modes) and every tampering case.

Keys and certificates are generated per test session (tests/builders/pki.py); models are
small generated directories.  Every failed verification must say *why*.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import pickle
import shutil
from pathlib import Path

import pytest

pytest.importorskip("model_signing")

from builders.pki import write_ca_chain, write_key  # noqa: E402
from trojanguard.errors import UsageError, VerificationError  # noqa: E402
from trojanguard.integrity.signature import sign_model, verify_model  # noqa: E402


def make_model(root: Path) -> Path:
    model = root / "model"
    (model / "sub").mkdir(parents=True)
    (model / "config.json").write_text('{"hidden_size": 8}')
    (model / "weights.bin").write_bytes(bytes(range(256)) * 64)
    (model / "sub" / "tokenizer.txt").write_text("a b c\n")
    (model / "README.md").write_text("---\nlicense: mit\n---\n# model\n")
    return model


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    d = tmp_path_factory.mktemp("pki")
    return {
        "k": write_key(d, "signer"),
        "other": write_key(d, "other"),
        "ca": write_ca_chain(d),
        "otherca": write_ca_chain(d, prefix="evil", signer="model-signer"),
        "expired": write_ca_chain(d, prefix="old", leaf_days=(-60, -1)),
    }


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, pki: dict) -> tuple[Path, Path]:
    """A key-signed model; tests copy it before tampering."""
    root = tmp_path_factory.mktemp("signed")
    model = make_model(root)
    result = sign_model(str(model), private_key=str(pki["k"].private))
    assert result.files == 4
    return model, Path(result.signature_path)


def _copy(signed: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    model, sig = signed
    shutil.copytree(model, tmp_path / "model")
    shutil.copy(sig, tmp_path / "model.sig")
    return tmp_path / "model", tmp_path / "model.sig"


def _verify_key(model: Path, sig: Path, pub: Path) -> None:
    verify_model(str(model), str(sig), public_key=str(pub))


@pytest.mark.parametrize("curve", ["p256", "p384", "p521"])
def test_key_round_trip(tmp_path: Path, curve: str) -> None:
    key = write_key(tmp_path, "k", curve)
    model = make_model(tmp_path)
    sign_model(str(model), str(tmp_path / "m.sig"), private_key=str(key.private))
    ok = verify_model(str(model), str(tmp_path / "m.sig"), public_key=str(key.public))
    assert ok.mode == "key" and ok.files == 4 and ok.signer.startswith("sha256:")


def test_byte_flip_names_the_file(signed: tuple[Path, Path], pki: dict, tmp_path: Path) -> None:
    model, sig = _copy(signed, tmp_path)
    data = bytearray((model / "weights.bin").read_bytes())
    data[1000] ^= 1
    (model / "weights.bin").write_bytes(bytes(data))
    with pytest.raises(VerificationError, match=r"modified: weights\.bin"):
        _verify_key(model, sig, pki["k"].public)


def test_added_file(signed: tuple[Path, Path], pki: dict, tmp_path: Path) -> None:
    model, sig = _copy(signed, tmp_path)
    (model / "sub" / "payload.pkl").write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(VerificationError, match=r"added \(unsigned\): sub/payload\.pkl"):
        _verify_key(model, sig, pki["k"].public)


def test_removed_file(signed: tuple[Path, Path], pki: dict, tmp_path: Path) -> None:
    model, sig = _copy(signed, tmp_path)
    (model / "config.json").unlink()
    with pytest.raises(VerificationError, match=r"removed: config\.json"):
        _verify_key(model, sig, pki["k"].public)


def test_renamed_file(signed: tuple[Path, Path], pki: dict, tmp_path: Path) -> None:
    model, sig = _copy(signed, tmp_path)
    (model / "weights.bin").rename(model / "weights.pt")
    with pytest.raises(VerificationError, match=r"renamed: weights\.bin -> weights\.pt"):
        _verify_key(model, sig, pki["k"].public)


def test_signature_from_another_key(signed: tuple[Path, Path], pki: dict, tmp_path: Path) -> None:
    model, sig = _copy(signed, tmp_path)
    with pytest.raises(VerificationError, match="does not verify with the given key"):
        _verify_key(model, sig, pki["other"].public)


def test_resigned_by_attacker_key(signed: tuple[Path, Path], pki: dict, tmp_path: Path) -> None:
    model, sig = _copy(signed, tmp_path)
    (model / "evil.py").write_text("import os\n")
    sign_model(str(model), str(sig), private_key=str(pki["other"].private))
    with pytest.raises(VerificationError, match="does not verify"):
        _verify_key(model, sig, pki["k"].public)


@pytest.mark.parametrize("cut", [0, 10, 200, -50])
def test_truncated_signature(signed: tuple[Path, Path], pki: dict, tmp_path: Path, cut: int) -> None:
    model, sig = _copy(signed, tmp_path)
    sig.write_bytes(sig.read_bytes()[:cut])
    with pytest.raises(VerificationError, match="malformed|does not verify"):
        _verify_key(model, sig, pki["k"].public)


def test_forged_statement_keeps_old_signature(signed: tuple[Path, Path], pki: dict, tmp_path: Path) -> None:
    """Editing the payload to cover a planted file breaks the signature."""
    model, sig = _copy(signed, tmp_path)
    bundle = json.loads(sig.read_bytes())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["predicate"]["resources"].append({"algorithm": "sha256", "digest": "0" * 64, "name": "x"})
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    sig.write_text(json.dumps(bundle))
    with pytest.raises(VerificationError, match="does not verify"):
        _verify_key(model, sig, pki["k"].public)


def test_sharded_round_trip_and_tamper(pki: dict, tmp_path: Path) -> None:
    """model_signing 1.1.1 alone fails on its own sharded signatures (float shard_size)."""
    model = make_model(tmp_path)
    sig = tmp_path / "s.sig"
    sign_model(str(model), str(sig), private_key=str(pki["k"].private), shard_size=4096)
    assert verify_model(str(model), str(sig), public_key=str(pki["k"].public)).method == "shards"
    with open(model / "weights.bin", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(VerificationError, match=r"modified: weights\.bin"):
        verify_model(str(model), str(sig), public_key=str(pki["k"].public))


def test_signature_inside_model_dir(pki: dict, tmp_path: Path) -> None:
    model = make_model(tmp_path)
    sig = model / "model.sig"
    sign_model(str(model), str(sig), private_key=str(pki["k"].private))
    verify_model(str(model), str(sig), public_key=str(pki["k"].public))


def test_two_models_in_a_row_do_not_share_state(pki: dict, tmp_path: Path) -> None:
    """The reused-verifier gap: verifying a second model must not inherit the first's config."""
    a, b = make_model(tmp_path / "a"), make_model(tmp_path / "b")
    sign_model(str(a), str(a / "a.sig"), private_key=str(pki["k"].private))
    sign_model(str(b), str(tmp_path / "b.sig"), private_key=str(pki["k"].private))
    verify_model(str(a), str(a / "a.sig"), public_key=str(pki["k"].public))
    (b / "a.sig").write_text("planted")
    with pytest.raises(VerificationError, match=r"added \(unsigned\): a\.sig"):
        verify_model(str(b), str(tmp_path / "b.sig"), public_key=str(pki["k"].public))


def test_certificate_round_trip_and_pin(pki: dict, tmp_path: Path) -> None:
    ca = pki["ca"]
    model = make_model(tmp_path)
    sig = tmp_path / "c.sig"
    sign_model(str(model), str(sig), private_key=str(ca.key), certificate=str(ca.leaf), certificate_chain=[str(ca.chain[0])])
    for identity in ("model-signer", "signer@example.org"):
        ok = verify_model(str(model), str(sig), certificate_chain=[str(ca.root)], identity=identity)
        assert ok.mode == "certificate" and "model-signer" in ok.signer
    with pytest.raises(VerificationError, match="does not match the pinned identity"):
        verify_model(str(model), str(sig), certificate_chain=[str(ca.root)], identity="someone-else")
    with pytest.raises(UsageError, match="--identity"):
        verify_model(str(model), str(sig), certificate_chain=[str(ca.root)])


def test_wrong_certificate_chain(pki: dict, tmp_path: Path) -> None:
    evil = pki["otherca"]
    model = make_model(tmp_path)
    sig = tmp_path / "c.sig"
    sign_model(str(model), str(sig), private_key=str(evil.key), certificate=str(evil.leaf), certificate_chain=[str(evil.chain[0])])
    with pytest.raises(VerificationError, match="does not verify with the given certificate chain"):
        verify_model(str(model), str(sig), certificate_chain=[str(pki["ca"].root)], identity="model-signer")


def test_expired_certificate(pki: dict, tmp_path: Path) -> None:
    old = pki["expired"]
    model = make_model(tmp_path)
    sig = tmp_path / "c.sig"
    sign_model(str(model), str(sig), private_key=str(old.key), certificate=str(old.leaf), certificate_chain=[str(old.chain[0])])
    with pytest.raises(VerificationError, match="expired"):
        verify_model(str(model), str(sig), certificate_chain=[str(old.root)], identity="model-signer")
    # The same signature verified at a time inside the validity window passes (the check is ours).
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)
    verify_model(str(model), str(sig), certificate_chain=[str(old.root)], identity="model-signer", now=past)


def test_sign_refuses_malicious_model(pki: dict, tmp_path: Path) -> None:
    model = make_model(tmp_path)

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os

            return (os.system, ("echo pwned",))

    (model / "model.pkl").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(VerificationError, match="refusing to sign"):
        sign_model(str(model), str(tmp_path / "x.sig"), private_key=str(pki["k"].private))
    assert not (tmp_path / "x.sig").exists()
    sign_model(str(model), str(tmp_path / "x.sig"), private_key=str(pki["k"].private), allow_findings=True)


# --------------------------------------------------------------------------- CLI


def _cli(*argv: str) -> tuple[int, str, str]:
    import io

    from trojanguard.cli import Console, main

    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Console(out=out, err=err, env={}))
    return code, out.getvalue(), err.getvalue()


def test_cli_sign_verify_exit_codes(pki: dict, tmp_path: Path) -> None:
    model = make_model(tmp_path)
    key = pki["k"]
    code, out, err = _cli("sign", str(model), "--key", str(key.private))
    assert code == 0 and "signed 4 file(s)" in out, err
    assert (tmp_path / "model.sig").exists()
    code, out, err = _cli("verify", str(model), "--key", str(key.public))
    assert code == 0 and "verified (key" in out, err
    (model / "config.json").write_text("{}")
    code, out, err = _cli("verify", str(model), "--key", str(key.public))
    assert code == 1 and "modified: config.json" in err and err.count("\n") == 1 and "Traceback" not in err
    code, _, err = _cli("verify", str(model), "--key", str(tmp_path / "missing.pub"))
    assert code in (1, 2) and "Traceback" not in err
    code, _, err = _cli("verify", str(model))
    assert code == 2 and "exactly one" in err
    code, _, err = _cli("sign", str(model))
    assert code == 2 and "--key" in err


def test_cli_certificate_verify(pki: dict, tmp_path: Path) -> None:
    ca = pki["ca"]
    model = make_model(tmp_path)
    sig = str(tmp_path / "m.sig")
    args = ["sign", str(model), "-s", sig, "--key", str(ca.key), "--certificate", str(ca.leaf), "--certificate-chain", str(ca.chain[0])]
    assert _cli(*args)[0] == 0
    ok = _cli("verify", str(model), "-s", sig, "--certificate-chain", str(ca.root), "--identity", "signer@example.org")
    assert ok[0] == 0, ok
    bad = _cli("verify", str(model), "-s", sig, "--certificate-chain", str(ca.root), "--identity", "mallory")
    assert bad[0] == 1 and "pinned identity" in bad[2]


def test_cli_sign_refuses_findings(pki: dict, tmp_path: Path) -> None:
    model = make_model(tmp_path)

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os

            return (os.system, ("id",))

    (model / "x.pkl").write_bytes(pickle.dumps(Evil()))
    code, _, err = _cli("sign", str(model), "--key", str(pki["k"].private))
    assert code == 1 and "refusing to sign" in err
    assert _cli("sign", str(model), "--key", str(pki["k"].private), "--allow-findings")[0] == 0


def test_heavy_libraries_are_imported_lazily() -> None:
    import subprocess
    import sys

    code = (
        "import sys, trojanguard.cli, trojanguard.scanner; trojanguard.cli.build_parser();"
        "import trojanguard.integrity.digest, trojanguard.integrity.signature, trojanguard.integrity.aibom;"
        "print([m for m in sys.modules if m.startswith(('model_signing', 'cyclonedx', 'sigstore'))])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    "payload",
    [b"", b"{", b"[" * 100_000, b'{"dsseEnvelope": {"payload": 5, "signatures": []}}', b"\xff\xfe\x00", b"null", b"{}" * 3],
)
def test_hostile_signature_bytes_fail_cleanly(signed: tuple[Path, Path], pki: dict, tmp_path: Path, payload: bytes) -> None:
    model, sig = _copy(signed, tmp_path)
    sig.write_bytes(payload)
    with pytest.raises(VerificationError):
        _verify_key(model, sig, pki["k"].public)


def test_hostile_statement_fails_cleanly() -> None:
    from trojanguard.integrity.manifest import parse_statement

    bad = [
        b"[" * 100_000,
        b'{"predicate": {"serialization": {"method": "files"}, "resources": [1]}}',
        b'{"predicate": {"serialization": {"method": "shards", "shard_size": 1.5}, "resources": []}}',
        b'{"predicate": {"serialization": {"method": "files", "hash_type": "md5"}, "resources": []}}',
        b'{"predicate": {"serialization": {"method": "files"}, "resources": [{"name": "a", "digest": "zz"}]}}',
    ]
    for data in bad:
        with pytest.raises(VerificationError):
            parse_statement(data)


def test_planted_symlink_fails(signed: tuple[Path, Path], pki: dict, tmp_path: Path) -> None:
    model, sig = _copy(signed, tmp_path)
    (model / "link.bin").symlink_to("/etc/hostname")
    with pytest.raises(VerificationError, match=r"link\.bin: symbolic link"):
        _verify_key(model, sig, pki["k"].public)


def test_expired_trust_anchor(pki: dict, tmp_path: Path) -> None:
    """A root that expired is no anchor, even if the signature was made while it was valid."""
    import datetime as dt

    from builders.pki import write_ca_chain as chain

    ca = chain(tmp_path, prefix="short", root_days=10, leaf_days=(-1, 3650))
    model = make_model(tmp_path)
    sig = tmp_path / "c.sig"
    sign_model(str(model), str(sig), private_key=str(ca.key), certificate=str(ca.leaf), certificate_chain=[str(ca.chain[0])])
    verify_model(str(model), str(sig), certificate_chain=[str(ca.root)], identity="model-signer")
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=20)
    with pytest.raises(VerificationError, match="short root.*expired"):
        verify_model(str(model), str(sig), certificate_chain=[str(ca.root)], identity="model-signer", now=future)


@pytest.mark.parametrize("shard_size", [None, 4096])
def test_fast_signing_writes_the_library_statement(pki: dict, tmp_path: Path, shard_size: int | None) -> None:
    """Signing hashes with trojanguard's parallel hasher; the signed statement is the library's own."""
    from model_signing import hashing, signing

    model = make_model(tmp_path)
    ours, theirs = tmp_path / "ours.sig", tmp_path / "theirs.sig"
    sign_model(str(model), str(ours), private_key=str(pki["k"].private), shard_size=shard_size)
    config = hashing.Config()
    if shard_size:
        config.use_shard_serialization(shard_size=shard_size)
    signing.Config().use_elliptic_key_signer(private_key=str(pki["k"].private)).set_hashing_config(config).sign(model, theirs)

    def statement(path: Path) -> dict:
        payload = json.loads(base64.b64decode(json.loads(path.read_bytes())["dsseEnvelope"]["payload"]))
        payload["predicate"]["serialization"]["ignore_paths"] = sorted(payload["predicate"]["serialization"]["ignore_paths"])
        return payload

    assert statement(ours) == statement(theirs)
