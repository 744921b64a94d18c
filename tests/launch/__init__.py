"""Tests of harness.launch: the local worker pool, Ray actors, and one run over several devices (ranks)."""
