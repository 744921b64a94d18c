"""Which pytorch-optimizer optimizers the harness's training loop cannot drive, and why.

The loop does, per batch: ``optimizer.zero_grad(set_to_none=True)``, ``loss.backward()``,
``optimizer.step()``; it builds the optimizer from ``model.parameters()`` alone and never calls the
optimizer between training and evaluation. An optimizer that needs anything else is refused, with the
reason, before anything trains, instead of failing mid-run or, worse, training as something it is not.

Each rule reads the class itself (its signature, its ``step``, its docstring, its source), so new
optimizers of the same kinds are classified without a change here:

======================  =========================================================================
rule                    what is read
======================  =========================================================================
wraps an optimizer      ``__init__`` takes ``optimizer`` first, or a ``base_optimizer`` (Lookahead,
                        TRAC, Magma, the SAM family, ...)
built from the model    ``__init__`` takes ``model`` (LOMO, AdaLOMO, Adam-mini, WSAM)
needs a closure         ``step(closure)`` without a default, ``step`` raising ``NoClosureError``
                        when given none, or a ``set_closure()`` (L-BFGS, the SAM family, AliG)
loss from a closure     the docstring asks for a loss closure (EmoNavi, EmoLynx, EmoFact)
Hessian estimates       ``step`` takes ``hessian``, or the docstring asks for ``create_graph``
                        (AdaHessian, Sophia-H)
train/eval modes        the class has ``train()`` and ``eval()`` (the schedule-free family, SPlus)
parameter groups        the docstring asks for ``use_muon`` groups (the Muon family)
matrices only           the class raises "only supports 2D parameters" (SpectralSphere)
distributed             the class calls ``get_world_size`` without checking for a process group
                        (DeMo, DistributedMuon)
a required argument     ``__init__`` has a parameter without a default (Ranger21's
                        ``num_iterations``): usable once the grid item gives it
======================  =========================================================================

Where the class cannot tell, :data:`DOCUMENTED` says why (LoRA-RITE: its parameters must be LoRA
factor pairs).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from harness_zoo_optim.signature import required_parameters

#: Reasons the class's own signature and source cannot show, by class name.
DOCUMENTED = {
    "LoRARite": "it optimises LoRA factor pairs: it expects the parameters in alternating (lora_a, lora_b) order, "
    "which a model's ordinary weights and biases are not",
}


def _source(obj) -> str:
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        return ""


def _init_names(cls) -> list[str]:
    return list(inspect.signature(cls.__init__).parameters)[1:]


def _wraps_an_optimizer(cls) -> str | None:
    names = _init_names(cls)
    if names[:1] == ["optimizer"]:
        call = f"{cls.__name__}(optimizer, ...)"
    elif "base_optimizer" in names:
        call = f"{cls.__name__}(params, base_optimizer, ...)"
    else:
        return None
    return (f"it wraps another optimizer ({call}), and the harness builds each optimizer from the model's "
            f"parameters alone, with no inner optimizer to name")  # fmt: skip


def _built_from_the_model(cls) -> str | None:
    if "model" not in _init_names(cls):
        return None
    why = (f"it is built from the model itself ({cls.__name__}(model, ...)), and the harness gives an optimizer "
           f"only the model's parameters")  # fmt: skip
    if callable(getattr(cls, "fused_backward", None)):
        why += "; it also updates the weights inside backward (fused_backward(loss, lr)), not in step()"
    return why


def _needs_a_closure(cls) -> str | None:
    closure = inspect.signature(cls.step).parameters.get("closure")
    required = closure is not None and closure.default is inspect.Parameter.empty
    if required or "NoClosureError" in _source(cls.step) or callable(getattr(cls, "set_closure", None)):
        return ("its step needs a closure that computes the loss again (step(closure)), and the training loop "
                "calls step() without one")  # fmt: skip
    return None


def _loss_from_a_closure(cls) -> str | None:
    if "closure" in (inspect.getdoc(cls) or "") and _needs_a_closure(cls) is None:
        return ("it takes the loss through a closure given to step() (its docstring asks for one), and the training "
                "loop calls step() without one: it would not run as the method it is named after")  # fmt: skip
    return None


def _hessian(cls) -> str | None:
    if "hessian" in inspect.signature(cls.step).parameters or "create_graph" in (inspect.getdoc(cls) or ""):
        return ("it estimates the Hessian by differentiating the gradient, which needs "
                "loss.backward(create_graph=True) or step(hessian=...), and the training loop calls loss.backward() "
                "and step() with neither")  # fmt: skip
    return None


def _train_and_eval_modes(cls) -> str | None:
    if callable(getattr(cls, "train", None)) and callable(getattr(cls, "eval", None)):
        return ("it evaluates weights kept apart from those it trains at: optimizer.eval() must run before every "
                "evaluation and optimizer.train() after it, and the training loop calls neither (the tested "
                "weights would silently be the wrong ones)")  # fmt: skip
    return None


def _parameter_groups(cls) -> str | None:
    if "use_muon" in (inspect.getdoc(cls) or ""):
        return ("it needs parameter groups marked use_muon (hidden weight matrices get its orthogonalised update; "
                "embeddings, the output layer, biases and gains get AdamW), which takes the model's structure, and "
                "the harness gives an optimizer a flat list of parameters")  # fmt: skip
    return None


def _matrices_only(cls) -> str | None:
    if "only supports 2D parameters" in _source(cls):
        return ("it updates only 2-D weight matrices and raises on any other parameter (a bias, a norm's gain, a "
                "convolution's kernel), and the harness gives it all of a model's parameters")  # fmt: skip
    return None


def _distributed(cls) -> str | None:
    source = _source(cls)
    if "get_world_size" in source and "is_initialized" not in source:
        return ("it exchanges updates between processes through torch.distributed, which needs an initialised "
                "process group, and the harness's own training loop creates none")  # fmt: skip
    return None


RULES: tuple[Callable[[type], str | None], ...] = (
    _wraps_an_optimizer,
    _built_from_the_model,
    _needs_a_closure,
    _loss_from_a_closure,
    _hessian,
    _train_and_eval_modes,
    _parameter_groups,
    _matrices_only,
    _distributed,
)


def fixed_reasons(cls) -> list[str]:
    """Why ``cls`` cannot be used whatever its parameters: every rule that applies, then the documented table."""
    found = [why for rule in RULES if (why := rule(cls))]
    if cls.__name__ in DOCUMENTED:
        found.append(DOCUMENTED[cls.__name__])
    return found


def _argument_doc(cls, name: str) -> str:
    """What the docstring's Args section says of ``name`` ('Total training steps for ...'), or ''."""
    for line in (inspect.getdoc(cls) or "").splitlines():
        head, _, text = line.strip().partition(":")
        if head == name and text.strip():
            return text.strip().rstrip(".")
    return ""


def reason_for(cls, name: str) -> Callable[[dict], str | None]:
    """``reason(params)``: why ``cls`` (the member ``name``) cannot train with the resolved ``params``, or None.

    The fixed reasons are read once; a required argument (no default) counts only while ``params`` leave it
    unset, so ``po/ranger21[num_iterations=3000]`` is usable where ``po/ranger21`` is not.
    """
    fixed = fixed_reasons(cls)
    required = required_parameters(cls)

    def reason(params: dict) -> str | None:
        found = list(fixed)
        for argument in required:
            if params.get(argument) is None:
                doc = _argument_doc(cls, argument)
                what = f" ({doc})" if doc else ""
                found.append(f"it needs {argument}{what}, which has no default: give it, as in {name}[{argument}=...]")
        return "; ".join(found) or None

    return reason
