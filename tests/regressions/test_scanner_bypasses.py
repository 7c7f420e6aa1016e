"""Other public bypasses of pickle scanners and loaders (modelscan, torch weights_only,
JFrog's picklescan zero-days), one test each."""

from __future__ import annotations

from builders.archives import crc_mismatch_zip
from builders.payloads import MALICIOUS
from conftest import assert_fires, scan_bytes


def test_modelscan_issue_267_nested_pickle_loads() -> None:
    """protectai/modelscan#267: ``pickle.loads`` with a nested payload (here a harmless
    ``print`` inside) was not flagged although pickle was on the unsafe list."""
    findings, _, _ = scan_bytes(MALICIOUS["modelscan-267-nested-pickle-loads-benign-inner"], "model.pt")
    assert_fires(findings, "PKL004", contains="pickle.loads")


def test_cve_2025_32434_torch_load_weights_only_is_no_boundary() -> None:
    """CVE-2025-32434: ``torch.load(weights_only=True)`` could still run code (fixed in torch
    2.6).  A pickle that calls ``torch.load`` on inner bytes is therefore a nested loader
    regardless of the flag, and the inner payload is scanned too."""
    findings, _, _ = scan_bytes(MALICIOUS["technique-nested-torch-load"], "model.pt")
    assert_fires(findings, "PKL004", contains="torch.load")
    assert_fires(findings, "PKL001", contains="os.system")


def test_cve_2025_10155_extension_is_only_a_hint() -> None:
    """CVE-2025-10155 (JFrog): picklescan skipped pickles with non-standard extensions;
    formats are identified by content here."""
    for name in ("model.bin", "weights.safetensors", "README", "model.txt"):
        findings, _, _ = scan_bytes(MALICIOUS["technique-os-system"], name)
        assert_fires(findings, "PKL001", contains="os.system")


def test_cve_2025_10156_zip_crc_mismatch() -> None:
    """CVE-2025-10156 (JFrog): a bad CRC in the zip made picklescan fail open, while torch
    still loads the member; the member's pickle is still analysed."""
    findings, _, _ = scan_bytes(crc_mismatch_zip(), "model.pt")
    assert_fires(findings, "PKL001")


def test_broken_pickle_after_payload_nullifai() -> None:
    """"Broken pickle" (ReversingLabs nullifAI, 2025): the payload runs before an invalid
    opcode that makes genops-based scanners give up."""
    for name in ("technique-junk-after-payload", "technique-invalid-opcode-after-payload",
                 "technique-truncated-after-payload"):
        findings, _, _ = scan_bytes(MALICIOUS[name], "model.pt")
        assert_fires(findings, "PKL001", contains="os.system")
        assert_fires(findings, "PKL005")


def test_frame_divergence() -> None:
    """FRAME boundary divergence: a BINBYTES that claims more bytes than its frame hides the
    rest from genops-style parsers while the C unpickler runs it."""
    findings, _, _ = scan_bytes(MALICIOUS["technique-frame-divergence-binbytes"], "model.pt")
    assert_fires(findings, "PKL001", contains="os.system")
    assert_fires(findings, "PKL007")
