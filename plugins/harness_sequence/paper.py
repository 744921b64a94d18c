"""The MNIST-1D paper's four models as specs, each with the test accuracy the paper reports.

Greydanus 2020, "Scaling down deep learning" (arXiv:2011.14439), compares
logistic regression, an MLP, a CNN and a GRU on MNIST-1D. The references sit
on the model specs, not on the ``mnist1d`` dataset spec: each figure belongs
to one of these architectures, while the dataset is shared with models the
paper never ran. Standard library only, so ``harness list`` imports no torch.
"""

from __future__ import annotations

from harness.specs import ModelSpec, Reference, lazy

PAPER = "Greydanus 2020, Scaling down deep learning (arXiv:2011.14439)"
SOURCE = f"{PAPER}: the MNIST-1D row of the table 'Comparing MNIST and MNIST-1D' in github.com/greydanus/mnist1d"
PROTOCOL = (
    "the default MNIST-1D (5,000 signals of length 40 generated with seed 42: 4,000 to train on, all of them, "
    "1,000 to test); Adam at learning rate 1e-2 without weight decay or schedule, batches of 100, 8,000 steps "
    "(200 epochs), PyTorch's default initialisation; test accuracy at the end of training. The paper's loop "
    "takes the training batches in one fixed order; the harness reshuffles them every epoch"
)
#: what a run's config must hold to be read against the paper (keys as a record's config and its params name them)
SETTINGS = {
    "optimizer": "adam",
    "lr": 0.01,
    "weight_decay": 0.0,
    "schedule": "constant",
    "batch_size": 100,
    "max_steps": 8000,
    "num_samples": 5000,
    "shuffle_seq": False,
    "val_fraction": 0,
}
#: the issue accepts agreement within 2.5 points; the paper gives no spread over seeds
TOLERANCE = 0.025


def paper_reference(accuracy: float, **model_params) -> tuple[Reference, ...]:
    """The paper's test accuracy for one model, on MNIST-1D under the paper's protocol."""
    settings = {**SETTINGS, **model_params}  # another width is another model than the paper's
    return (
        Reference(
            accuracy,
            SOURCE,
            dataset="mnist1d",
            optimizer="adam",
            metric="accuracy",
            tolerance=TOLERANCE,
            protocol=PROTOCOL,
            settings=settings,
        ),
    )


def _width_problem(params, key: str) -> str | None:
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return f"{key} must be a positive whole number, got {value!r}"
    return None


def mlp_problem(params) -> str | None:
    """Why the paper MLP's parameters cannot build, or None."""
    return _width_problem(params, "hidden")


def cnn_problem(params) -> str | None:
    """Why the paper CNN's parameters cannot build, or None."""
    return _width_problem(params, "channels")


def gru_problem(params) -> str | None:
    """Why the paper GRU's parameters cannot build, or None."""
    return _width_problem(params, "hidden_size")


def _spec(name: str, builder: str, description: str, accuracy: float, defaults=None, validate=None) -> ModelSpec:
    return ModelSpec(
        name=name,
        build=lazy(f"harness_sequence.paper_models:{builder}"),
        tasks=("classification",),
        modalities=("sequence",),
        defaults=dict(defaults or {}),
        description=f"{description}; {PAPER} reports {accuracy:.0%} test accuracy",
        validate=validate,
        references=paper_reference(accuracy, **(defaults or {})),
    )


def paper_model_specs() -> list[ModelSpec]:
    """Logistic regression, MLP, CNN and GRU exactly as the paper builds them, sized from the dataset."""
    return [
        _spec(
            "mnist1d_logistic",
            "build_logistic",
            "MNIST-1D paper's logistic regression: flattened signal -> linear (410 parameters)",
            0.32,
        ),
        _spec(
            "mnist1d_mlp",
            "build_mlp",
            "MNIST-1D paper's MLP: 100-100 ReLU with a residual second layer -> linear (15,210 parameters)",
            0.68,
            {"hidden": 100},
            mlp_problem,
        ),
        _spec(
            "mnist1d_cnn",
            "build_cnn",
            "MNIST-1D paper's CNN: three strided Conv1d-ReLU of 25 channels (k5 s2, k3 s2, k3 s2), "
            "flattened -> linear (5,210 parameters)",
            0.94,
            {"channels": 25},
            cnn_problem,
        ),
        _spec(
            "mnist1d_gru",
            "build_gru",
            "MNIST-1D paper's GRU: bidirectional, 6 units, every position's output flattened -> linear "
            "(5,134 parameters)",
            0.91,
            {"hidden_size": 6, "bidirectional": True},
            gru_problem,
        ),
    ]
