"""A sweep without torch or time, for the tests of a sweep's bookkeeping: a grid and a launcher that
'trains' each run at once into the record shape the runner writes."""

from __future__ import annotations

from harness.config import RunConfig
from harness.records import new_record


class InstantLauncher:
    """A launcher that 'trains' each run at once (test metric 0.9); ``trained`` lists the seeds it ran."""

    name = "instant"

    def __init__(self):
        self.trained = []

    def size(self, runs):
        return 1

    def map(self, runs, on_start=None):
        for config in runs:
            on_start(config)
            self.trained.append(config.seed)
            record = new_record(config, "tiny")
            record["results"] = {"test_metric": 0.9}
            yield config, record


def logreg_grid(seeds) -> list[RunConfig]:
    """One cell (logreg on digits with sgd) at each of ``seeds``."""
    return [RunConfig(model="logreg", dataset="digits", optimizer="sgd", seed=seed) for seed in seeds]
