"""Dense models that read any fixed-size input: MLPs and softmax (logistic) regression.

Registered through the ``harness`` entry-point group like any outside plugin.
The torch code lives in ``harness_dense.models`` and is imported only when a
run builds a model.
"""

from harness import hookimpl
from harness.specs import ModelSpec, lazy

FIXED_SIZE = ("image", "tabular", "sequence")


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
        ),
    ]
