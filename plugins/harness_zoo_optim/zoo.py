"""The members of the ``po/`` family: which optimizers pytorch-optimizer offers, and each one's spec.

Imported only when a ``po/`` name is used (through :func:`harness.specs.lazy`): importing pytorch-optimizer
imports torch and every optimizer module, which takes seconds.
"""

from __future__ import annotations

import functools

from harness.specs import OptimizerSpec
from harness_zoo_optim import limits, signature

PREFIX = "po/"


@functools.cache
def optimizer_classes() -> dict[str, type]:
    """Lower-case name -> class: the package's registry, plus the public optimizers it leaves out of it.

    ``get_supported_optimizers()`` omits the wrappers and the SAM family (``Lookahead``, ``SAM``, ``TRAC``...),
    which ``pytorch_optimizer.optimizer`` still exports; they are listed too, so naming one says why it
    cannot be used here instead of "unknown optimizer".
    """
    import pytorch_optimizer
    import torch
    from pytorch_optimizer import optimizer as exported

    classes = {name: pytorch_optimizer.load_optimizer(name) for name in pytorch_optimizer.get_supported_optimizers()}
    for public in getattr(exported, "__all__", ()):
        found = getattr(exported, public, None)
        if isinstance(found, type) and issubclass(found, torch.optim.Optimizer):
            classes.setdefault(public.lower(), found)
    return classes


def names() -> list[str]:
    """Every member's name, ``po/<lower-case class name>``."""
    return [PREFIX + name for name in sorted(optimizer_classes())]


def resolve(name: str) -> OptimizerSpec | None:
    """The spec of ``po/<name>``, or None when pytorch-optimizer has no such optimizer."""
    cls = optimizer_classes().get(name.removeprefix(PREFIX)) if name.startswith(PREFIX) else None
    if cls is None:
        return None
    hyper = signature.hyperparameters(cls)
    reason = limits.reason_for(cls, name)

    def check(**params) -> str | None:
        return reason(params)

    def validate(params) -> str | None:
        if reason(params) is not None:  # the check says why; a trial construction would only say it worse
            return None
        return signature.argument_problem(cls, params) or signature.construction_problem(cls, hyper, params)

    description = signature.description(cls)
    if signature.keeps_no_lr(cls, hyper):
        description += "; it has no learning rate: lr and schedules leave it unchanged"
    return OptimizerSpec(
        name=name,
        build=signature.builder(cls, hyper),
        defaults=hyper.defaults,
        description=description,
        search_space=signature.search_space(hyper.defaults),
        validate=validate,
        check=check,
    )
