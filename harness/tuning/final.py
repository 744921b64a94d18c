"""After the search: each study's choice trained with the final seeds, annotated, and written down.

Each study's winner is rerun with the final seeds into ``final/`` (a search run
that already is one of them is copied, not retrained). Every final record gets
a ``tuning`` entry saying what it was chosen from and how: the entry it stands
for (the workload and optimizer as the user named them), the sampler, the
space, the budget, the studies that chose it and the chosen values, so a
table can group the studies of one entry and say how many trials each got.
``tuning.json`` lists every study's choice and every trial's score.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.config import RunConfig
from harness.errors import HarnessError, one_line
from harness.paths import check_output_dir, check_output_file
from harness.records import canonical, without_seed
from harness.store import Store
from harness.sweep import DEFAULT_RESULTS, SweepResult, write_or_keep


@dataclass
class Choice:
    """What one study decided for one workload x optimizer (every other setting fixed)."""

    base: RunConfig  # the workload x optimizer as named, at seed 0
    study: int
    config: RunConfig  # seed 0 at the chosen point (the base run when no trial finished: labels only)
    chosen: dict | None  # address -> chosen value; None: no trial finished every search seed
    space: dict  # address -> the range searched, as text
    scores: list[dict]  # every trial: its drawn values and mean validation score (None: failed)
    metric: str | None
    mode: str | None
    trials: int
    pruned: int = 0  # trials of this study a pruner stopped early

    @property
    def entry(self) -> dict:
        """The entry a table shows this choice under: the workload and optimizer as the user named them."""
        base = self.base
        return {"model": base.model_label, "dataset": base.dataset_label, "optimizer": base.optimizer_label}

    def as_dict(self) -> dict:
        return {
            **self.entry,
            "study": self.study,
            "chosen": self.chosen,
            "chosen_lr": (self.chosen or {}).get("optimizer.lr"),
            "trials": self.trials,
            "pruned": self.pruned,
            "space": self.space,
            "selected_on": f"mean best validation {self.metric}" if self.metric else None,
            "scores": self.scores,
        }


@dataclass
class TuneResult:
    """What :func:`harness.tune` returns: both phases of a tuning sweep and what was chosen in between.

    ``search`` and ``final`` are the two sweeps (:class:`~harness.sweep.SweepResult`: every trial's runs, then
    each study's choice rerun with the final seeds), ``choices`` each study's chosen point per entry, ``output``
    the tuning folder (``search/``, ``final/``, ``studies.db``, ``tuning.json``). :meth:`table` is the table
    ``harness tune`` prints.
    """

    output: Path
    search: SweepResult
    final: SweepResult
    choices: list[Choice] = field(default_factory=list)

    def table(self, fmt: str = "simple") -> str:
        """One row per entry: the final test metric over studies x seeds, the budget and the chosen values."""
        from harness.reporting.tuned import tuned_table

        return tuned_table(self.final.all_records(), fmt)


def check_folders(output, suite) -> Path:
    """The tuning root, once it and the folders and file a tuning writes there are sure to be writable."""
    if output:
        root = check_output_dir(output)
    else:
        root = check_output_dir(DEFAULT_RESULTS / f"{suite.name}-tuned", "results directory (named after the suite)")
    for phase in ("search", "final"):
        check_output_dir(root / phase)
    check_output_file(root / "tuning.json")
    return root


def final_phase(
    run, root: Path, choices: list[Choice], by_key: dict, seeds, rerun: bool, emit, search_seeds, sampler, prune=None
):
    """Each chosen point with the final seeds; a study that chose nothing is reported, not run."""
    store = Store(root / "final")
    unsaved: list[str] = []
    configs = list({c.key(): c for choice in choices if choice.chosen is not None
                    for c in (replace(choice.config, seed=seed) for seed in seeds)}.values())  # fmt: skip
    for choice in choices:
        if choice.chosen is None:
            reason = f"no trial of study {choice.study} finished every search seed"
            emit("untunable", config=choice.config, reason=reason)
    for config in configs:  # a search run at the chosen point is already a final run: copy, don't retrain
        if config.key() in by_key and not rerun and not store.is_finished(config.key()):
            _write(store, by_key[config.key()], emit, unsaved)
    studies = len({c.study for c in choices})
    emit("phase", name="final", detail=f"{len(configs) // max(1, len(seeds))} choice(s) of {studies} study(ies) x "
         f"{len(seeds)} seed(s)")  # fmt: skip
    final = run(configs, store.root)
    how = {"sampler": sampler, "search_seeds": search_seeds, "pruner": prune}
    _annotate(final.records, choices, how, store, emit, unsaved)
    final.unsaved.extend(unsaved)
    return final


def _write(store: Store, record: dict, emit, unsaved: list[str]) -> None:
    """Store ``record`` as a sweep does (:func:`harness.sweep.write_or_keep`); one kept elsewhere joins ``unsaved``."""
    _, kept = write_or_keep(store, record, emit)
    if kept is not None:
        unsaved.append(kept)


def _annotate(final_records, choices: list[Choice], how: dict, store, emit, unsaved) -> None:
    """Give each final record its ``tuning`` entry, and store it again.

    ``how`` is the tuning's ``sampler``, ``search_seeds`` and ``pruner`` (None: none)."""
    by_point: dict[str, list[Choice]] = {}
    pruned: dict[str, int] = {}  # trials pruned over every study of an entry
    for choice in choices:
        if choice.chosen is not None:
            by_point.setdefault(canonical(without_seed(choice.config.as_dict())), []).append(choice)
        entry = canonical(choice.entry)
        pruned[entry] = pruned.get(entry, 0) + choice.pruned
    studies = max((c.study for c in choices), default=0) + 1
    for record in final_records:
        chose = by_point.get(canonical(without_seed(record["config"])))
        if not chose:
            continue
        first = chose[0]
        record["tuning"] = {
            "entry": first.entry,
            "sampler": how["sampler"],
            "space": first.space,
            "trials": first.trials,
            "studies": studies,
            "chosen_by": [c.study for c in chose],
            "search_seeds": how["search_seeds"],
            "chosen": first.chosen,
            "chosen_lr": first.chosen.get("optimizer.lr"),
            "selected_on": f"mean best validation {first.metric}",
        }
        if how["pruner"]:  # every study's trials of the entry, stopped early by the pruner
            record["tuning"] |= {"pruner": how["pruner"], "pruned": pruned[canonical(first.entry)]}
        _write(store, record, emit, unsaved)


def write_choices(root: Path, choices: list[Choice]) -> None:
    """``tuning.json``: every study's choice; a failure to write it loses nothing (the final records hold them)."""
    try:
        (root / "tuning.json").write_text(json.dumps([c.as_dict() for c in choices], indent=1) + "\n")
    except OSError as exc:
        raise HarnessError(
            f"{root / 'tuning.json'} cannot be written ({one_line(exc)}); the final records hold the choices"
        ) from None
