"""Every optimizer of the pytorch-optimizer package as ``po/<name>`` (``po/lion``, ``po/adan``, ``po/prodigy``).

One family (:class:`harness.families.FamilySpec`), not one spec per optimizer: ``harness list`` shows it
as one line and never imports the package (which imports torch and every optimizer module); a run, a
wildcard under the prefix (``po/ada*``) or a typo's did-you-mean is what imports it.

Each member is read from its class (:mod:`harness_zoo_optim.signature`): the defaults are ``lr`` and
every keyword argument whose default a grid item can write, so ``po/lion[betas=[0.9,0.99]]`` is checked
like a built-in optimizer's override; the description is the docstring's first sentence; ``harness tune``
searches ``lr`` a decade either side of its default and, where the optimizer has one, ``weight_decay``
in 1e-6..1e-1, both on a log scale. Parameters are checked by building the optimizer over one small
tensor before anything trains, so what the package refuses is refused with its own message.

An optimizer the training loop cannot drive (a closure, Hessian estimates, a wrapped optimizer, the model
itself, train/eval modes, distributed collectives: :mod:`harness_zoo_optim.limits`) is still listed, and
naming it is refused with the reason before anything trains.

Install with ``pip install "harness-dl[zoo]"`` or ``pip install pytorch-optimizer``.
"""

from __future__ import annotations

from harness import hookimpl
from harness.families import FamilySpec
from harness.specs import lazy

#: The PyPI distribution, and the module it installs.
DISTRIBUTION = "pytorch-optimizer"
MODULE = "pytorch_optimizer"


def package_missing() -> str | None:
    """Why the family cannot be used here (the package is not installed), or None; finds it without importing it."""
    from importlib.util import find_spec

    if find_spec(MODULE) is None:
        return f"the package {DISTRIBUTION} is not installed (pip install {DISTRIBUTION}, or the harness's extra [zoo])"
    return None


@hookimpl
def harness_register_families():
    return [
        FamilySpec(
            kind="optimizer",
            prefix="po/",
            resolve=lazy("harness_zoo_optim.zoo:resolve"),
            names=lazy("harness_zoo_optim.zoo:names"),
            description="optimizers from pytorch-optimizer",
            distribution=DISTRIBUTION,
            check=package_missing,
        )
    ]
