"""Dense models that read any fixed-size input: MLPs and softmax (logistic) regression.

Registered through the ``harness`` entry-point group like any outside plugin.
The torch code lives in ``harness_dense.models`` and is imported only when a
run builds a model.
"""

from harness import hookimpl
from harness.specs import ModelSpec, lazy

FIXED_SIZE = ("image", "tabular", "sequence")
#: The activations ``harness_dense.models`` builds, named here so the check before training needs no torch.
ACTIVATION_NAMES = ("relu", "gelu", "tanh", "sigmoid", "silu")


def mlp_problem(params) -> str | None:
    """Why an MLP's parameters cannot build (checked before anything trains), or None."""
    hidden = params["hidden"] if isinstance(params["hidden"], (list, tuple)) else [params["hidden"]]
    if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
        return f"hidden widths must be positive whole numbers, got {params['hidden']!r}"
    if not 0 <= params["dropout"] < 1:
        return f"dropout must be in [0, 1), got {params['dropout']!r}"
    if params["activation"] not in ACTIVATION_NAMES:
        return f"activation must be one of {', '.join(ACTIVATION_NAMES)}, got {params['activation']!r}"
    return None


@hookimpl
def harness_register_models():
    return [
        ModelSpec(
            name="mlp",
            build=lazy("harness_dense.models:build_mlp"),
            tasks=("classification",),
            modalities=FIXED_SIZE,
            defaults={"hidden": [128, 64], "dropout": 0.0, "activation": "relu"},
            description="Multi-layer perceptron on flattened inputs (hidden widths 128-64, ReLU)",
            validate=mlp_problem,
        ),
        ModelSpec(
            name="logreg",
            build=lazy("harness_dense.models:build_logreg"),
            tasks=("classification",),
            modalities=FIXED_SIZE,
            defaults={},
            description="Multinomial logistic (softmax) regression: one linear layer on flattened inputs",
        ),
        ModelSpec(
            name="mlp_regressor",
            build=lazy("harness_dense.models:build_mlp_regressor"),
            tasks=("regression",),
            modalities=FIXED_SIZE,
            defaults={"hidden": [50], "dropout": 0.0, "activation": "relu"},
            description="MLP regressor like scikit-learn's MLPRegressor: one hidden layer of 50 ReLU units",
            validate=mlp_problem,
        ),
    ]
