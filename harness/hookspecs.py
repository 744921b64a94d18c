"""Every hook a harness plugin can implement. This file is the plugin reference.

A plugin is a module (or package) with functions marked ``@harness.hookimpl``
whose names are one of the hooks below. It is found through the ``harness``
entry-point group, or given with ``--plugins PATH``. Every hook name starts
with ``harness_``; a marked function with another name, or with a name that is
not listed here, makes the plugin unavailable with that reason.

Hooks discover and observe. Nothing here is called per batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from harness.config import RunConfig
    from harness.families import FamilySpec
    from harness.specs import DatasetSpec, ModelSpec, OptimizerSpec

PROJECT = "harness"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -------------------------------------------------------------------------
# Discovery: what a plugin contributes
# -------------------------------------------------------------------------


@hookspec
def harness_register_models() -> list[ModelSpec]:
    """Return the models this plugin provides.

    :return: a list of :class:`harness.specs.ModelSpec`. Names must be unique
        across all plugins; a name claimed twice is reported naming both
        plugins and cannot be used until one of them is blocked (``-p no:NAME``).
    """


@hookspec
def harness_register_datasets() -> list[DatasetSpec]:
    """Return the datasets this plugin provides.

    :return: a list of :class:`harness.specs.DatasetSpec`. ``load`` must work
        offline; a dataset whose files are missing raises an error saying how
        to get them.
    """


@hookspec
def harness_register_optimizers() -> list[OptimizerSpec]:
    """Return the optimizers this plugin provides.

    :return: a list of :class:`harness.specs.OptimizerSpec` whose ``defaults``
        hold at least ``lr``.
    """


@hookspec
def harness_register_families() -> list[FamilySpec]:
    """Return the families of models or optimizers this plugin resolves by name on demand (a zoo).

    A family (:class:`harness.families.FamilySpec`) stands for every name under
    its prefix (``timm/resnet18``, ``po/lion``) without registering each:
    ``harness list`` shows it as one line, its package is imported only when
    a run, a wildcard (``timm/*vit*``) or ``harness show`` needs a member,
    and a mistyped member gets the usual did-you-mean from the family's own
    names. A name registered by ``harness_register_models`` (or optimizers)
    wins over a family's member of the same name.

    :return: a list of :class:`harness.families.FamilySpec`; two families may not share a prefix.
    """


# -------------------------------------------------------------------------
# Lifecycle: observing runs
# -------------------------------------------------------------------------


@hookspec
def harness_run_callbacks(config: RunConfig) -> list:
    """Return extra Lightning callbacks for one run.

    Called once per run, before training starts, in the process that trains.
    Use it to observe training (custom metrics, profiling) without touching
    the core. Keep per-step work out of the callbacks you return: their cost
    lands in the measured throughput.

    The harness's own Fabric loop calls the usual hook names
    (``on_train_start``, ``on_train_epoch_start``, ``on_train_batch_end``,
    ``on_train_epoch_end``, ``on_validation_start``, ``on_validation_end``,
    ``on_train_end``) with a :class:`harness.train.engine.LoopState` as the
    ``trainer`` argument: it has ``current_epoch``, ``global_step``,
    ``callback_metrics``, ``should_stop`` and ``sanity_checking``. Runs that
    use a Lightning ``Trainer`` (a model's own LightningModule, several
    devices) pass the real one. A run over several devices trains in one
    process per device, and each calls this hook (``trainer.global_rank``
    tells them apart; rank 0's measurements make the record).

    :param config: the fully resolved run about to start.
    :return: a list of ``lightning.pytorch.Callback`` instances (may be empty).
    """


@hookspec
def harness_record_written(record: dict, path: str) -> None:
    """Observe a run record right after it was stored.

    Called in the process that writes the record, once per finished run
    (whatever its status). Use it to forward results elsewhere (a tracker, a
    chat message). An exception here is reported and does not stop the sweep.

    :param record: the record as stored (plain JSON-compatible data).
    :param path: the file the record was written to.
    """
