"""A computed reference for ``mlp_regressor`` with ``sgd`` on ``diabetes``: scikit-learn's MLPRegressor on the
same splits.

It answers "does the harness train an MLP regressor the way an independent
library does?". scikit-learn trains on the training split
:func:`harness_tabular.diabetes.load_diabetes` gives every run (the same
patients; features and target standardised with the training split's mean and
std, as the harness does) and is scored by RMSE on its test split, in the
target's units, over :data:`SEEDS`.

Matched to ``harness run -m mlp_regressor -d diabetes -o sgd`` with the
defaults (:data:`SETTINGS` is what the run's config must hold): one hidden
layer of 50 ReLU units, no dropout; plain SGD with no momentum (so Nesterov
does not apply), no weight decay (``alpha=0``) and a constant rate; batches of
64 in a new shuffled order each epoch, the last smaller batch kept; 40 epochs,
with nothing stopping early; the model after the last epoch scored; float32.
The loss: scikit-learn minimises half the mean squared error, the harness the
mean squared error, so scikit-learn's gradient is half the harness's and its
learning rate is twice the run's (0.2 for the run's 0.1): every step is the same.

Not matched: the initial weights (Glorot-uniform in scikit-learn,
Kaiming-uniform with a=sqrt(5) in PyTorch), the random streams behind them and
the shuffling, and the order of floating-point sums.

The scores are cached (``harness.data.cache_dir("baselines")``), keyed by the
versions of scikit-learn and torch (which draws the split), the settings and
the seeds, so only the first report that needs them trains (about a second).
"""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from harness.data import cache_dir, write_atomically
from harness.specs import Reference, lazy

#: Bump when the scores written under the same key would change.
CACHE_VERSION = 1
SEEDS = (0, 1, 2, 3, 4)
HIDDEN = (50,)
LR, BATCH_SIZE, EPOCHS = 0.1, 64, 40
#: scikit-learn's squared loss is half the harness's, so the same step needs twice the rate.
SKLEARN_LR = 2 * LR
SPLIT = {"val_fraction": 0.15, "test_fraction": 0.2, "split_seed": 0}

#: What a run's config must hold to be read against this reference (as a record's config and its params name them).
SETTINGS = {
    "hidden": list(HIDDEN),
    "dropout": 0.0,
    "activation": "relu",
    "lr": LR,
    "momentum": 0.0,
    "dampening": 0.0,
    "nesterov": False,
    "weight_decay": 0.0,
    "schedule": "constant",
    "batch_size": BATCH_SIZE,
    "max_epochs": EPOCHS,
    "max_steps": -1,
    "early_stopping": None,
    "precision": "32-true",
    **SPLIT,
}

PROTOCOL = (
    f"scikit-learn's MLPRegressor(hidden_layer_sizes={HIDDEN}, activation='relu', solver='sgd', momentum=0, "
    f"alpha=0, learning_rate_init={SKLEARN_LR:g}, batch_size={BATCH_SIZE}, max_iter={EPOCHS}) on the harness's "
    "diabetes training split (split_seed 0, standardised as the harness does), test RMSE in the target's units; "
    f"mean and standard deviation over seeds {SEEDS[0]}-{SEEDS[-1]}. Matched: layers, activation, plain SGD, "
    f"batch size, epochs, shuffling each epoch, no early stopping, and each step (twice the run's rate {LR:g}: "
    "scikit-learn's loss is half the mean squared error). Not matched: initial weights (Glorot vs PyTorch's "
    "Kaiming-uniform), random streams"
)

#: The reference the ``diabetes`` spec ships: where it applies is known now, its value only when a report asks.
REFERENCE = Reference(
    None,
    "scikit-learn MLPRegressor on the harness's diabetes splits",
    model="mlp_regressor",
    optimizer="sgd",
    metric="rmse",
    protocol=PROTOCOL,
    settings=SETTINGS,
    compute=lazy("harness_tabular.sklearn_baseline:diabetes_reference"),
)


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def cache_path(seeds=SEEDS) -> Path:
    """Where the scores for these seeds live: a hash of the versions that decide them, the settings and the seeds."""
    key = {
        "scikit-learn": _version("scikit-learn"),
        "torch": _version("torch"),
        "settings": SETTINGS,
        "seeds": list(seeds),
        "version": CACHE_VERSION,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir("baselines") / f"diabetes-mlp_regressor-sklearn-{digest}.json"


def train_scores(seeds=SEEDS) -> list[float]:
    """Test RMSE (target units) of one MLPRegressor per seed, trained on the harness's diabetes training split."""
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor
    from threadpoolctl import threadpool_limits

    from harness_tabular.diabetes import load_diabetes

    splits = load_diabetes(**SPLIT)
    (train_x, train_y), (test_x, test_y) = ((x.numpy(), y.numpy().ravel()) for x, y in (splits.train, splits.test))
    target_std = float(splits.info.extra["target_std"][0])
    scores = []
    for seed in seeds:
        model = MLPRegressor(
            hidden_layer_sizes=HIDDEN, activation="relu", solver="sgd", alpha=0.0, batch_size=BATCH_SIZE,
            learning_rate="constant", learning_rate_init=SKLEARN_LR, momentum=0.0, nesterovs_momentum=False,
            max_iter=EPOCHS, n_iter_no_change=EPOCHS, shuffle=True, random_state=seed,
        )  # fmt: skip
        # one BLAS thread: matrices this small gain nothing from more, and a busy machine makes them 10x slower
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore", ConvergenceWarning)  # it is told to run every epoch, and does
            model.fit(train_x, train_y)
        error = model.predict(test_x) - test_y
        scores.append(float(np.sqrt(np.mean(error.astype(np.float64) ** 2)) * target_std))
    return scores


def cached_scores(seeds=None) -> list[float]:
    """The scores from the cache when there, else trained now and cached (atomically: reports may run side by side);
    ``seeds`` default to :data:`SEEDS`."""
    seeds = SEEDS if seeds is None else tuple(seeds)
    path = cache_path(seeds)
    try:
        return [float(score) for score in json.loads(path.read_text())["scores"]]
    except (OSError, ValueError, KeyError, TypeError):  # none yet, or damaged: train again
        pass
    scores = train_scores(seeds)
    stored = {"scores": scores, "seeds": list(seeds), "scikit-learn": _version("scikit-learn")}
    write_atomically(path, lambda tmp: tmp.write_text(json.dumps(stored)))
    return scores


def diabetes_reference() -> Reference:
    """:data:`REFERENCE` with its value: the mean test RMSE over :data:`SEEDS`, its spread their std."""
    import statistics

    scores = cached_scores()
    return Reference(
        statistics.fmean(scores),
        f"scikit-learn {_version('scikit-learn')} MLPRegressor(hidden_layer_sizes={HIDDEN}, solver='sgd'), "
        f"{len(scores)} seeds on the harness's diabetes splits",
        spread=statistics.stdev(scores),
        protocol=PROTOCOL,
    )
