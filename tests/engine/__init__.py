"""Unit and integration tests of rtio.engine."""
