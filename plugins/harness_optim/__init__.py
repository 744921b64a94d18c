"""Optimizers from torch.optim with documented default hyper-parameters.

The defaults are the usual starting points for small models, so an
untuned comparison is still a sensible one (tune with ``--lr`` or
``name[lr=...]``):

========  =====  ==========================================================
name      lr     notes
========  =====  ==========================================================
sgd       0.1    plain SGD; momentum, nesterov, weight_decay as options
momentum  0.05   SGD with heavy-ball momentum 0.9
nesterov  0.05   SGD with Nesterov momentum 0.9
adam      1e-3   Adam, betas (0.9, 0.999)
adamw     1e-3   AdamW, decoupled weight decay 0.01
rmsprop   1e-3   RMSprop, alpha 0.99 (PyTorch's default lr 1e-2 is unstable for most nets)
adagrad   1e-2   Adagrad (PyTorch's default)
nadam     2e-3   NAdam (PyTorch's default), momentum decay 4e-3
radam     1e-3   RAdam (PyTorch's default)
========  =====  ==========================================================

``harness tune`` searches each one's declared space (``--space`` overrides a
range; every range below is drawn on a log scale; ``1-x`` means the search
draws 1 - x, so momentum and beta1 are searched densely near 1; the warm-up
fraction is searched only for runs with the ``warmup_cosine`` schedule):

========  ===========  ============================================================
name      lr           also searched
========  ===========  ============================================================
sgd       1e-3 .. 1    weight_decay 1e-6 .. 1e-2
momentum  1e-3 .. 1    1-momentum 1e-3 .. 0.5; weight_decay 1e-6 .. 1e-2; warm-up
nesterov  1e-3 .. 1    1-momentum 1e-3 .. 0.5; weight_decay 1e-6 .. 1e-2; warm-up
adam      1e-4 .. 0.1  1-beta1 1e-3 .. 0.5; warm-up
adamw     1e-4 .. 0.1  1-beta1 1e-3 .. 0.5; weight_decay 1e-4 .. 0.1; warm-up
rmsprop   1e-5 .. 1e-2 1-alpha 1e-3 .. 0.1; warm-up
adagrad   1e-3 .. 1    warm-up
nadam     1e-4 .. 0.1  1-beta1 1e-3 .. 0.5; warm-up
radam     1e-4 .. 0.1  1-beta1 1e-3 .. 0.5; warm-up
========  ===========  ============================================================

The warm-up is ``schedule.warmup``, 0.01 .. 0.1 of the run's steps (linear scale).
"""

from dataclasses import replace

from harness import hookimpl
from harness.specs import OptimizerSpec, SearchParam


def _log(low: float, high: float, one_minus: bool = False) -> SearchParam:
    return SearchParam(low, high, log=True, one_minus=one_minus)


_WARMUP = {"schedule.warmup": SearchParam(0.01, 0.1)}
_MOMENTUM = {"momentum": _log(1e-3, 0.5, one_minus=True), "weight_decay": _log(1e-6, 1e-2), **_WARMUP}
_ADAM = {"lr": _log(1e-4, 0.1), "betas[0]": _log(1e-3, 0.5, one_minus=True), **_WARMUP}
#: Each optimizer's search space for ``harness tune`` (the table in the module's docstring).
SPACES = {
    "sgd": {"lr": _log(1e-3, 1.0), "weight_decay": _log(1e-6, 1e-2), **_WARMUP},
    "momentum": {"lr": _log(1e-3, 1.0), **_MOMENTUM},
    "nesterov": {"lr": _log(1e-3, 1.0), **_MOMENTUM},
    "adam": _ADAM,
    "adamw": {**_ADAM, "weight_decay": _log(1e-4, 0.1)},
    "rmsprop": {"lr": _log(1e-5, 1e-2), "alpha": _log(1e-3, 0.1, one_minus=True), **_WARMUP},
    "adagrad": {"lr": _log(1e-3, 1.0), **_WARMUP},
    "nadam": _ADAM,
    "radam": _ADAM,
}


def _torch_optim(name: str):
    def build(params, lr, **hparams):
        import torch

        if "betas" in hparams:
            hparams["betas"] = tuple(hparams["betas"])
        if hparams.get("nesterov") and (hparams.get("momentum", 0) <= 0 or hparams.get("dampening", 0) != 0):
            raise ValueError("nesterov needs momentum > 0 and dampening = 0")
        return getattr(torch.optim, name)(params, lr=lr, **hparams)

    build.__name__ = f"build_{name.lower()}"
    return build


_SGD = {"momentum": 0.0, "nesterov": False, "weight_decay": 0.0, "dampening": 0.0}

#: What each hyper-parameter may be beyond its type (the lr is checked by the harness): (test, what is allowed).
_LIMITS = {
    "momentum": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "dampening": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "weight_decay": (lambda v: v >= 0, "at least 0"),
    "eps": (lambda v: v >= 0, "at least 0"),
    "alpha": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "lr_decay": (lambda v: v >= 0, "at least 0"),
    "momentum_decay": (lambda v: v >= 0, "at least 0"),
}


def optimizer_problem(hparams) -> str | None:
    """Why these hyper-parameters would make torch.optim refuse (checked before anything trains), or None."""
    for key, (test, allowed) in _LIMITS.items():
        if key in hparams and not test(hparams[key]):
            return f"{key} must be {allowed}, got {hparams[key]!r}"
    betas = hparams.get("betas", [0.9, 0.999])
    if not isinstance(betas, (list, tuple)) or len(betas) != 2 or not all(0 <= b < 1 for b in betas):
        return f"betas must be two numbers in [0, 1), got {betas!r}"
    if hparams.get("nesterov") and (hparams.get("momentum", 0) <= 0 or hparams.get("dampening", 0) != 0):
        return "nesterov needs momentum > 0 and dampening = 0"
    return None


OPTIMIZERS = [
    OptimizerSpec(
        "sgd",
        _torch_optim("SGD"),
        {**_SGD, "lr": 0.1},
        "Stochastic gradient descent; momentum and nesterov=true as options",
        validate=optimizer_problem,
    ),
    OptimizerSpec(
        "momentum",
        _torch_optim("SGD"),
        {**_SGD, "lr": 0.05, "momentum": 0.9},
        "SGD with heavy-ball momentum 0.9",
        validate=optimizer_problem,
    ),
    OptimizerSpec(
        "nesterov",
        _torch_optim("SGD"),
        {**_SGD, "lr": 0.05, "momentum": 0.9, "nesterov": True},
        "SGD with Nesterov momentum 0.9",
        validate=optimizer_problem,
    ),
    OptimizerSpec(
        "adam",
        _torch_optim("Adam"),
        {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False},
        "Adam (Kingma & Ba, 2015) with PyTorch's default betas",
        validate=optimizer_problem,
    ),
    OptimizerSpec(
        "adamw",
        _torch_optim("AdamW"),
        {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01, "amsgrad": False},
        "AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019)",
        validate=optimizer_problem,
    ),
    OptimizerSpec(
        "rmsprop",
        _torch_optim("RMSprop"),
        {"lr": 1e-3, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0, "centered": False},
        "RMSprop (Tieleman & Hinton, 2012)",
        validate=optimizer_problem,
    ),
    OptimizerSpec(
        "adagrad",
        _torch_optim("Adagrad"),
        {"lr": 1e-2, "lr_decay": 0.0, "weight_decay": 0.0, "eps": 1e-10},
        "Adagrad (Duchi et al., 2011)",
        validate=optimizer_problem,
    ),
    OptimizerSpec(
        "nadam",
        _torch_optim("NAdam"),
        {"lr": 2e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0, "momentum_decay": 4e-3},
        "NAdam: Adam with Nesterov momentum (Dozat, 2016)",
        validate=optimizer_problem,
    ),
    OptimizerSpec(
        "radam",
        _torch_optim("RAdam"),
        {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0},
        "RAdam: Adam with a rectified adaptive learning rate (Liu et al., 2020)",
        validate=optimizer_problem,
    ),
]


@hookimpl
def harness_register_optimizers():
    return [replace(spec, search_space=SPACES[spec.name]) for spec in OPTIMIZERS]
