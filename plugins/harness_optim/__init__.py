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

OPTIMIZERS = [
    OptimizerSpec(
        "sgd",
        _torch_optim("SGD"),
        {**_SGD, "lr": 0.1},
        "Stochastic gradient descent; momentum and nesterov=true as options",
    ),
    OptimizerSpec(
        "momentum",
        _torch_optim("SGD"),
        {**_SGD, "lr": 0.05, "momentum": 0.9},
        "SGD with heavy-ball momentum 0.9",
    ),
    OptimizerSpec(
        "nesterov",
        _torch_optim("SGD"),
        {**_SGD, "lr": 0.05, "momentum": 0.9, "nesterov": True},
        "SGD with Nesterov momentum 0.9",
    ),
    OptimizerSpec(
        "adam",
        _torch_optim("Adam"),
        {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False},
        "Adam (Kingma & Ba, 2015) with PyTorch's default betas",
    ),
    OptimizerSpec(
        "adamw",
        _torch_optim("AdamW"),
        {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01, "amsgrad": False},
        "AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019)",
    ),
    OptimizerSpec(
        "rmsprop",
        _torch_optim("RMSprop"),
        {"lr": 1e-3, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0, "centered": False},
        "RMSprop (Tieleman & Hinton, 2012)",
    ),
    OptimizerSpec(
        "adagrad",
        _torch_optim("Adagrad"),
        {"lr": 1e-2, "lr_decay": 0.0, "weight_decay": 0.0, "eps": 1e-10},
        "Adagrad (Duchi et al., 2011)",
    ),
    OptimizerSpec(
        "nadam",
        _torch_optim("NAdam"),
        {"lr": 2e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0, "momentum_decay": 4e-3},
        "NAdam: Adam with Nesterov momentum (Dozat, 2016)",
    ),
    OptimizerSpec(
        "radam",
        _torch_optim("RAdam"),
        {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0},
        "RAdam: Adam with a rectified adaptive learning rate (Liu et al., 2020)",
    ),
]


@hookimpl
def harness_register_optimizers():
    return list(OPTIMIZERS)
