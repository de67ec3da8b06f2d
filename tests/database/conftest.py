"""The small database fixtures (`small_config`, `built`) live in tests/conftest.py, shared with the CLI tests."""
