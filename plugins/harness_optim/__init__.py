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
"""

from harness import hookimpl
from harness.specs import OptimizerSpec


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
    return list(OPTIMIZERS)
