"""Tests of harness.train: the training loop, its meters, batches and task modules, and one run end to end."""
