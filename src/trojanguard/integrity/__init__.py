"""Supply-chain integrity: parallel hashing, OpenSSF model signatures, the AI-BOM.

Submodules are imported on demand; none of them is imported by the scanner core, and the
heavy libraries (model_signing, cyclonedx) are only imported inside the functions that
need them.
"""
