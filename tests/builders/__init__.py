"""Fixture generators: every test input is built in code (no committed binaries)."""
