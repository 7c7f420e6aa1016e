"""CLI glue for ``sign``, ``verify``, ``bom`` and ``bom verify`` (registered from cli.py).

Exit codes: 0 verified / signed / BOM written; 1 verification failed, drift found, or
``sign`` refused because the scan found something at or above ``high`` (or could not
finish); 2 usage or input error (missing key, unreadable directory, missing extra).
``register_*`` stays cheap: model_signing and cyclonedx are imported by the handlers.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from ..cli import positive_int
from ..errors import InputError, UsageError, VerificationError

if TYPE_CHECKING:
    from ..cli import Console, Subparsers

__all__ = ["register_bom", "register_sign", "register_verify"]

EXIT_OK, EXIT_FAILED = 0, 1




def _add_verify_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--signature", "-s", metavar="SIG", help="signature bundle (default: MODEL_DIR.sig beside the directory)")
    p.add_argument("--key", metavar="PUBLIC_PEM", help="ECDSA public key (key mode; the key is the pinned signer)")
    p.add_argument("--certificate-chain", metavar="PEM", action="append", default=[], help="trusted CA certificate(s) (certificate mode)")
    p.add_argument("--identity", metavar="ID", help="certificate mode: the signer to pin (subject CN, SAN e-mail/URI/DNS, or sha256:FINGERPRINT)")
    p.add_argument("--sigstore-identity", metavar="ID", help="Sigstore keyless (needs network; untested here): expected identity")
    p.add_argument("--sigstore-issuer", metavar="URL", help="Sigstore keyless: expected OIDC issuer")


# --------------------------------------------------------------------------- sign


def register_sign(subparsers: Subparsers) -> None:
    """``trojanguard sign``: scan, then sign a model directory (OpenSSF model signing)."""
    p = subparsers.add_parser("sign", help="scan a model directory, then sign it (OpenSSF model signing format)")
    p.description = (
        "Scan MODEL_DIR and sign it with an ECDSA key (P-256/384/521), optionally bound to a certificate. "
        "Refuses (exit 1) when the scan finds anything at or above high, unless --allow-findings."
    )
    p.add_argument("model_dir", metavar="MODEL_DIR")
    p.add_argument("--key", metavar="PRIVATE_PEM", help="ECDSA private key (PEM, unencrypted)")
    p.add_argument("--certificate", metavar="PEM", help="signing certificate for --key (certificate mode)")
    p.add_argument("--certificate-chain", metavar="PEM", action="append", default=[], help="intermediate certificate(s) to embed")
    p.add_argument("--signature", "-s", metavar="SIG", help="where to write the bundle (default: MODEL_DIR.sig)")
    p.add_argument("--shard-size", type=positive_int, metavar="BYTES", help="sign shards of this size instead of whole files")
    p.add_argument("--allow-findings", action="store_true", help="sign even if the scan finds something")
    p.add_argument("--sigstore", action="store_true", help="Sigstore keyless signing (needs network and an OIDC login; untested here)")
    p.set_defaults(handler=run_sign)


def run_sign(args: argparse.Namespace, console: Console) -> int:
    from ..cli import _write
    from .signature import sign_model, sign_model_sigstore

    try:
        if args.sigstore:
            result = sign_model_sigstore(args.model_dir, args.signature, allow_findings=args.allow_findings)
        else:
            if not args.key:
                raise UsageError("sign needs --key PRIVATE_PEM (or --sigstore)")
            result = sign_model(
                args.model_dir,
                args.signature,
                private_key=args.key,
                certificate=args.certificate,
                certificate_chain=args.certificate_chain,
                shard_size=args.shard_size,
                allow_findings=args.allow_findings,
            )
    except VerificationError as exc:
        console.error(exc.diagnostics())
        return EXIT_FAILED
    if result.scan.findings:
        console.warning(f"signed despite {len(result.scan.findings)} finding(s) (--allow-findings)")
    _write(console.out, f"signed {result.files} file(s): {result.signature_path}\n")
    return EXIT_OK


# --------------------------------------------------------------------------- verify


def register_verify(subparsers: Subparsers) -> None:
    """``trojanguard verify``: check a model directory against its signature."""
    p = subparsers.add_parser("verify", help="verify a model directory against its OpenSSF model signature")
    p.description = "Exit 0 only if the signature verifies, the signer matches, and no file was modified, added or removed."
    p.add_argument("model_dir", metavar="MODEL_DIR")
    _add_verify_options(p)
    p.add_argument("--jobs", "-j", type=positive_int, metavar="N", help="hashing threads (default: one per core)")
    p.add_argument("--no-library-recheck", action="store_true", help="skip model_signing's own second full verification")
    p.set_defaults(handler=run_verify)


def _verify(args: argparse.Namespace, jobs: int | None, recheck: bool) -> str:
    from .signature import verify_model

    result = verify_model(
        args.model_dir,
        args.signature,
        public_key=args.key,
        certificate_chain=args.certificate_chain,
        identity=args.identity,
        sigstore_identity=args.sigstore_identity,
        sigstore_issuer=args.sigstore_issuer,
        library_recheck=recheck,
        workers=jobs,
    )
    return f"verified ({result.mode}, signer {result.signer}, {result.files} file(s), {result.method})"


def run_verify(args: argparse.Namespace, console: Console) -> int:
    from ..cli import _write

    try:
        line = _verify(args, args.jobs, not args.no_library_recheck)
    except VerificationError as exc:
        console.error(exc.diagnostics())
        return EXIT_FAILED
    _write(console.out, f"{args.model_dir}: {line}\n")
    return EXIT_OK


# --------------------------------------------------------------------------- bom


def register_bom(subparsers: Subparsers) -> None:
    """``trojanguard bom MODEL_DIR ...`` builds an AI-BOM; ``trojanguard bom verify BOM`` re-checks one."""
    p = subparsers.add_parser("bom", help="write a CycloneDX 1.6 AI-BOM, or 'bom verify BOM.json' to re-hash one")
    p.description = (
        "'bom MODEL_DIR [--data P]... [--code REPO] [--env] [-o FILE]' writes the BOM (validated against CycloneDX 1.6); "
        "'bom verify BOM.json' re-hashes every component and exits 1 listing every drift. "
        "(A model directory literally named 'verify' must be given as './verify'.)"
    )
    p.add_argument("target", nargs="+", metavar="MODEL_DIR | verify BOM")
    p.add_argument("--data", action="append", default=[], metavar="PATH", help="dataset file or directory (repeatable)")
    p.add_argument("--code", metavar="REPO", help="git work tree of the code that trains/serves the model")
    p.add_argument("--env", action="store_true", help="record the Python environment (every distribution, RECORD hash)")
    p.add_argument("--no-scan", action="store_true", help="do not scan the model (verdict 'not scanned')")
    p.add_argument("--output", "-o", metavar="FILE", help="write the BOM to FILE (atomically) instead of stdout")
    p.add_argument("--jobs", "-j", type=positive_int, metavar="N", help="hashing threads (default: one per core)")
    _add_verify_options(p)
    p.set_defaults(handler=run_bom)


def _signature_status(args: argparse.Namespace, model_dir: str) -> str:
    """Verify when a key/chain was given; else say whether a signature exists at all."""
    from .signature import default_signature_path

    if args.key or args.certificate_chain or args.sigstore_identity:
        try:
            return _verify(argparse.Namespace(**{**vars(args), "model_dir": model_dir}), args.jobs, False)
        except VerificationError as exc:
            return f"failed: {exc.diagnostics()}"
    path = args.signature or default_signature_path(model_dir)
    return "present, not verified" if os.path.exists(path) else "unsigned"


def run_bom(args: argparse.Namespace, console: Console) -> int:
    from ..cli import _write, write_atomic
    from .aibom import BomInputs, build_bom, read_text, render_bom, verify_bom

    target = args.target
    if target[0] == "verify":
        if len(target) != 2:
            raise UsageError("usage: trojanguard bom verify BOM.json")
        try:
            checked = verify_bom(read_text(target[1]), workers=args.jobs)
        except VerificationError as exc:
            console.error(f"{target[1]}: {exc.diagnostics()}")
            return EXIT_FAILED
        _write(console.out, f"{target[1]}: {checked} component(s) verified, no drift\n")
        return EXIT_OK
    if len(target) != 1:
        raise UsageError("bom takes one MODEL_DIR (datasets go in --data)")
    inputs = BomInputs(
        model=target[0],
        data=args.data,
        code=args.code,
        env=args.env,
        scan=not args.no_scan,
        signature_status=_signature_status(args, target[0]),
        workers=args.jobs,
    )
    text = render_bom(build_bom(inputs))
    if args.output:
        try:
            write_atomic(args.output, text)
        except OSError as exc:
            raise InputError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    else:
        _write(console.out, text)
    return EXIT_OK
