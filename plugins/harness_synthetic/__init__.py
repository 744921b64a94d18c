"""Synthetic data of any shape, for pure throughput runs. It measures speed, not learning.

Every table marks these datasets as synthetic. Labels are random, so accuracy
stays at chance: compare samples/s, step time and memory only.
"""

from harness import hookimpl
from harness.specs import DatasetSpec, lazy

_SIZES = {"train_size": 2048, "val_size": 256, "test_size": 256, "seed": 0}


def sizes_problem(params) -> str | None:
    """Why the generated data's sizes cannot be used (checked before anything trains), or None."""
    keys = ("num_classes", "train_size", "val_size", "test_size", "length", "vocab_size")
    sizes = {key: params[key] for key in keys if key in params}
    shape = params.get("shape", [])
    sizes.update({f"shape[{i}]": d for i, d in enumerate(shape if isinstance(shape, (list, tuple)) else [shape])})
    bad = next((key for key, value in sizes.items() if value < 1), None)
    return f"{bad} must be at least 1, got {sizes[bad]!r}" if bad else None


@hookimpl
def harness_register_datasets():
    return [
        DatasetSpec(
            name="synthetic-image",
            load=lazy("harness_synthetic.generate:synthetic_images"),
            task="classification",
            modality="image",
            defaults={"shape": [3, 32, 32], "num_classes": 10, **_SIZES},
            description="random images of any shape (default 3x32x32) with random labels, for throughput only",
            synthetic=True,
            validate=sizes_problem,
        ),
        DatasetSpec(
            name="synthetic-sequence",
            load=lazy("harness_synthetic.generate:synthetic_sequences"),
            task="classification",
            modality="sequence",
            defaults={"shape": [1, 256], "num_classes": 10, **_SIZES},
            description="random (channels, length) sequences (default 1x256) with random labels, for throughput only",
            synthetic=True,
            validate=sizes_problem,
        ),
        DatasetSpec(
            name="synthetic-tokens",
            load=lazy("harness_synthetic.generate:synthetic_tokens"),
            task="classification",
            modality="tokens",
            defaults={"length": 128, "vocab_size": 10000, "num_classes": 2, **_SIZES},
            description="random token-id sequences (default 128 tokens, 10k vocabulary), for throughput only",
            synthetic=True,
            validate=sizes_problem,
        ),
    ]
