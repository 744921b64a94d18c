"""A computed reference for ``mlp`` with ``sgd`` on ``digits``: scikit-learn's MLPClassifier on the same splits.

It answers "does the harness train an MLP the way an independent library
does?". scikit-learn trains on the harness's own training images (the cached
split :func:`harness_vision.digits.cached_splits` gives every run, pixels
scaled to 0..1) and is scored on its test images, over :data:`SEEDS`.

Matched to a harness run of the default suite's MLP cell (``harness run``, or
``-m mlp -d digits -o sgd --max-epochs 40``; :data:`SETTINGS` is what the run's
config must hold): hidden layers of 128 and 64 ReLU units, no dropout; plain
SGD at learning rate 0.1 with no momentum (``momentum=0``, so Nesterov does not
apply), no weight decay (``alpha=0``) and a constant rate; batches of 64 drawn
in a new shuffled order each epoch, the last smaller batch kept; 40 epochs,
with nothing stopping early (``n_iter_no_change`` is the epoch count, no
validation split of scikit-learn's own); the mean cross-entropy as the loss;
the model after the last epoch scored; float32 throughout.

Not matched, and why a run's number differs from this one's by seed noise
only: the initial weights (scikit-learn draws weights and biases Glorot-uniform,
PyTorch's ``nn.Linear`` Kaiming-uniform with a=sqrt(5)), the random streams
behind initialisation and shuffling, and the order of floating-point sums.

The scores are cached (``harness.data.cache_dir("baselines")``), keyed by
scikit-learn's version, the settings and the seeds, so only the first report
that needs them trains (about two seconds on one core).
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
HIDDEN = (128, 64)
LR, BATCH_SIZE, EPOCHS = 0.1, 64, 40
SPLIT = {"val_fraction": 0.2, "test_fraction": 0.2, "split_seed": 0}

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
    f"scikit-learn's MLPClassifier(hidden_layer_sizes={HIDDEN}, activation='relu', solver='sgd', momentum=0, "
    f"alpha=0, learning_rate_init={LR}, batch_size={BATCH_SIZE}, max_iter={EPOCHS}) on the harness's digits "
    f"training split (split_seed 0), scored on its test split; mean and standard deviation over seeds "
    f"{SEEDS[0]}-{SEEDS[-1]}. Matched: layers, activation, loss, plain SGD, rate, batch size, epochs, shuffling "
    "each epoch, no early stopping. Not matched: initial weights (Glorot vs PyTorch's Kaiming-uniform), "
    "random streams"
)

#: The reference the ``digits`` spec ships: where it applies is known now, its value only when a report asks.
REFERENCE = Reference(
    None,
    "scikit-learn MLPClassifier on the harness's digits splits",
    model="mlp",
    optimizer="sgd",
    metric="accuracy",
    protocol=PROTOCOL,
    settings=SETTINGS,
    compute=lazy("harness_vision.sklearn_baseline:digits_reference"),
)


def sklearn_version() -> str:
    try:
        return version("scikit-learn")
    except PackageNotFoundError:
        return "not installed"


def cache_path(seeds=SEEDS) -> Path:
    """Where the scores for these seeds live: a hash of scikit-learn's version, the settings and the seeds."""
    key = {"scikit-learn": sklearn_version(), "settings": SETTINGS, "seeds": list(seeds), "version": CACHE_VERSION}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir("baselines") / f"digits-mlp-sklearn-{digest}.json"


def train_scores(seeds=SEEDS) -> list[float]:
    """Test accuracy of one MLPClassifier per seed, trained on the harness's digits training split."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    from harness_vision.digits import cached_splits

    arrays = cached_splits(**SPLIT)
    train_x, test_x = (arrays[name].reshape(len(arrays[name]), -1) for name in ("train_x", "test_x"))
    scores = []
    for seed in seeds:
        model = MLPClassifier(
            hidden_layer_sizes=HIDDEN, activation="relu", solver="sgd", alpha=0.0, batch_size=BATCH_SIZE,
            learning_rate="constant", learning_rate_init=LR, momentum=0.0, nesterovs_momentum=False,
            max_iter=EPOCHS, n_iter_no_change=EPOCHS, shuffle=True, random_state=seed,
        )  # fmt: skip
        # one BLAS thread: matrices this small gain nothing from more, and a busy machine makes them 10x slower
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore", ConvergenceWarning)  # it is told to run every epoch, and does
            model.fit(train_x, arrays["train_y"])
        scores.append(float((model.predict(test_x) == arrays["test_y"]).mean()))
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
    stored = {"scores": scores, "seeds": list(seeds), "scikit-learn": sklearn_version()}
    write_atomically(path, lambda tmp: tmp.write_text(json.dumps(stored)))
    return scores


def digits_reference() -> Reference:
    """:data:`REFERENCE` with its value: the mean test accuracy over :data:`SEEDS`, its spread their std."""
    import statistics

    scores = cached_scores()
    return Reference(
        statistics.fmean(scores),
        f"scikit-learn {sklearn_version()} MLPClassifier(hidden_layer_sizes={HIDDEN}, solver='sgd'), "
        f"{len(scores)} seeds on the harness's digits splits",
        spread=statistics.stdev(scores),
        protocol=PROTOCOL,
    )
