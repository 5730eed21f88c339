"""Helpers and fixtures shared by several test directories (the fixtures are pytest plugins: tests/conftest.py)."""
