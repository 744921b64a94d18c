"""Tabular datasets: scikit-learn's bundled diabetes regression set (real, offline), with scikit-learn's
MLPRegressor on the same splits as a computed reference (:mod:`harness_tabular.sklearn_baseline`)."""

from harness import hookimpl
from harness.data import split_problem
from harness.specs import DatasetSpec, lazy
from harness_tabular.sklearn_baseline import REFERENCE as SKLEARN_MLP_REFERENCE


@hookimpl
def harness_register_datasets():
    return [
        DatasetSpec(
            name="diabetes",
            load=lazy("harness_tabular.diabetes:load_diabetes"),
            task="regression",
            modality="tabular",
            defaults={"val_fraction": 0.15, "test_fraction": 0.2, "split_seed": 0},
            description="scikit-learn's diabetes: 442 patients, 10 features -> disease progression after one year",
            validate=split_problem,
            references=(SKLEARN_MLP_REFERENCE,),  # computed by scikit-learn when a report has a matching cell
        ),
    ]
