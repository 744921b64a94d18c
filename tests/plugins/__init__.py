"""Tests of the built-in plugins under plugins/: their datasets, models and how they train."""
