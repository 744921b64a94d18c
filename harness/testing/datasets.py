"""``check_dataset``: a dataset loads offline and its data is what its ``DatasetInfo`` says it is.

torch is imported inside the functions: importing :mod:`harness.testing` (which
pytest does for its plugin in every run) must stay cheap.
"""

from __future__ import annotations

from harness.registry import Entry, Registry
from harness.specs import PAD_ID, DatasetSplits
from harness.testing.common import UNREGISTERED, accepts_defaults, default_registry, failure, require_usable, resolve

#: Examples per split whose shapes and values are checked.
EXAMPLES = 4
#: The sizes a synthetic dataset is loaded with when a model is checked on it for want of a real one.
SMALL_SYNTHETIC = {"train_size": 64, "val_size": 16, "test_size": 16}


def first_examples(split, n: int):
    """The first ``n`` examples of a split (fewer if it has fewer) as a tuple of batched tensors."""
    import torch

    if isinstance(split, (tuple, list)):
        return tuple(t[:n] for t in split)
    items = [split[i] for i in range(min(n, len(split)))]
    return tuple(torch.stack([torch.as_tensor(item[k]) for item in items]) for k in range(len(items[0])))


def load_splits(entry: Entry, params: dict | None = None) -> DatasetSplits:
    """The dataset's splits with ``params`` (default: its defaults), after its ``check()``: Unavailable when it says
    the data is not here, an AssertionError naming it when ``load`` raises or returns the wrong thing.

    A registered dataset is loaded through the training runner's cache, once per process, as a run loads it.
    """
    params = dict(entry.spec.defaults) if params is None else params
    require_usable(entry, params)
    try:
        if entry.plugin == UNREGISTERED:  # not cached: another spec of the same name may come next
            data = entry.spec.load(**params)
        else:
            from harness.train.runner import load_dataset

            data = load_dataset(entry, params)
    except Exception as exc:
        raise failure(entry, f"load({params!r}) raised", exc) from exc
    if not isinstance(data, DatasetSplits):
        raise failure(entry, f"load() returned {type(data).__name__}, not DatasetSplits")
    return data


def small_params(entry: Entry) -> dict:
    """A synthetic dataset's defaults with small sizes, where it has those parameters and allows them."""
    small = {**entry.spec.defaults, **{k: v for k, v in SMALL_SYNTHETIC.items() if k in entry.spec.defaults}}
    validate = entry.spec.validate
    return small if validate is None or validate(dict(small)) is None else dict(entry.spec.defaults)


def check_dataset(spec_or_name, registry: Registry | None = None) -> None:
    """Check that a dataset keeps the plugin contract; raise AssertionError naming it and the fault, or
    :class:`~harness.testing.Unavailable` when its ``check()`` says it cannot be loaded here.

    Its ``validate`` accepts its defaults; it loads offline with them; the loaded info has the task, modality and
    synthetic flag the spec declares; in every split the inputs have ``info.input_shape`` (batch dimension aside),
    class ids lie in ``[0, num_classes)``, regression targets are floats with ``output_dim`` columns, seq2seq
    targets fit ``max_target_length`` and ``target_vocab_size``, and token ids ``vocab_size``. ``spec_or_name``
    is a registered name or a :class:`~harness.specs.DatasetSpec` (registered or not).
    """
    entry = resolve("dataset", spec_or_name, registry or default_registry())
    accepts_defaults(entry)
    data = load_splits(entry)
    info = data.info
    declared = (entry.spec.task, entry.spec.modality, entry.spec.synthetic)
    if (info.task, info.modality, info.synthetic) != declared:
        raise failure(entry, f"the spec declares task, modality, synthetic {declared} but the loaded info says "
                             f"{(info.task, info.modality, info.synthetic)}")  # fmt: skip
    for name in ("train", "val", "test"):
        split = getattr(data, name)
        if split is None and name == "val":  # no validation split: allowed
            continue
        if split is None:
            raise failure(entry, f"the {name} split is None (only val may be)")
        try:
            batch = first_examples(split, EXAMPLES)
        except Exception as exc:
            raise failure(entry, f"the first examples of the {name} split cannot be read", exc) from exc
        problem = batch_problem(info, batch)
        if problem:
            raise failure(entry, f"{name} split: {problem}")


# kept whole: one rule per task and modality, read top to bottom like the DatasetInfo conventions they check
def batch_problem(info, batch) -> str | None:
    """Why a batch ``(inputs, targets)`` disagrees with ``info`` (what the task modules will assume), or None."""
    if len(batch) != 2:
        return f"an example has {len(batch)} parts, not (inputs, targets)"
    inputs, targets = batch
    n = len(inputs)
    if n == 0 or len(targets) != n:
        return f"{n} inputs and {len(targets)} targets among the first examples"
    if tuple(inputs.shape[1:]) != info.input_shape:
        return f"inputs have shape {tuple(inputs.shape[1:])} per example but info.input_shape is {info.input_shape}"
    if info.task == "classification":
        if info.num_classes is None or info.num_classes < 2:
            return f"a classification dataset needs num_classes >= 2, got {info.num_classes!r}"
        if targets.dtype.is_floating_point or targets.dim() != 1:
            return f"class targets must be integer ids of shape [B], got {targets.dtype} {tuple(targets.shape)}"
        if int(targets.min()) < 0 or int(targets.max()) >= info.num_classes:
            return f"class ids {int(targets.min())}..{int(targets.max())} outside [0, {info.num_classes})"
    elif info.task == "regression":
        if not targets.dtype.is_floating_point:
            return f"regression targets must be floats, got {targets.dtype}"
        columns = targets.reshape(n, -1).shape[1]
        if columns != (info.output_dim or 1):
            return f"targets have {columns} values per example but info.output_dim is {info.output_dim}"
    else:
        if info.max_target_length is None or info.target_vocab_size is None:
            return "a seq2seq dataset needs max_target_length and target_vocab_size in its info"
        if targets.dim() != 2 or targets.shape[1] > info.max_target_length:
            return f"targets of shape {tuple(targets.shape)} do not fit max_target_length {info.max_target_length}"
        if int(targets.min()) < PAD_ID or int(targets.max()) >= info.target_vocab_size:
            return f"target ids {int(targets.min())}..{int(targets.max())} outside [0, {info.target_vocab_size})"
    if info.modality == "tokens":
        import torch

        if inputs.dtype != torch.long or info.vocab_size is None:
            return f"token inputs must be int64 ids with info.vocab_size set, got {inputs.dtype}, {info.vocab_size}"
        if int(inputs.min()) < PAD_ID or int(inputs.max()) >= info.vocab_size:
            return f"token ids {int(inputs.min())}..{int(inputs.max())} outside [0, {info.vocab_size})"
    return None
