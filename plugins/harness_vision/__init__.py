"""Image datasets. For now scikit-learn's bundled 8x8 digits: real data that needs no download."""

from harness import hookimpl
from harness.specs import DatasetSpec, lazy


@hookimpl
def harness_register_datasets():
    return [
        DatasetSpec(
            name="digits",
            load=lazy("harness_vision.digits:load_digits"),
            task="classification",
            modality="image",
            defaults={"val_fraction": 0.2, "test_fraction": 0.2, "split_seed": 0},
            description="scikit-learn's bundled handwritten digits: 1,797 8x8 grey images, 10 classes",
        ),
    ]
