"""Optimizers from torch.optim with documented defaults.

Defaults are the values commonly used as a starting point for small
classification models: SGD lr 0.1 (momentum and Nesterov as options), Adam
lr 1e-3 with PyTorch's betas.
"""

from harness import hookimpl
from harness.specs import OptimizerSpec


def _sgd(params, lr, momentum=0.0, nesterov=False, weight_decay=0.0, dampening=0.0):
    import torch

    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("nesterov needs momentum > 0 and dampening = 0")
    return torch.optim.SGD(
        params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, dampening=dampening
    )


def _adam(params, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
    import torch

    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


@hookimpl
def harness_register_optimizers():
    return [
        OptimizerSpec(
            name="sgd",
            build=_sgd,
            defaults={"lr": 0.1, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0, "dampening": 0.0},
            description="Stochastic gradient descent; momentum and nesterov=true as options",
        ),
        OptimizerSpec(
            name="adam",
            build=_adam,
            defaults={"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False},
            description="Adam (Kingma & Ba, 2015) with PyTorch's default betas",
        ),
    ]
