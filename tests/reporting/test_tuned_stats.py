"""The statistics of a tuning's final runs (harness tune): every study of one entry is one contestant, over all its
studies x seeds, however many points the studies chose; runs without a tuning entry compete as before.

Hand-made final records (tests/records.py with the ``tuning`` entry harness/tuning/final.py writes): no training.
"""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.reporting.cells import cell_table, entry_runs
from harness.reporting.frames import runs_frame
from harness.reporting.stats_tables import across_frame, stats_tables, wins_frame
from harness.store import Store
from tests.records import make_record

SPACE = {"optimizer.lr": "0.0001..1 log", "1-optimizer.betas[0]": "0.001..0.5 log"}


def final_runs(model, optimizer, points, base, seeds=3, model_params=None) -> list[dict]:
    """The final runs of one entry: study i chose ``points[i]`` (its lr), trained with ``seeds`` seeds; its test
    accuracy is ``base + 0.01·i + 0.002·seed``."""
    records = []
    for study, lr in enumerate(points):
        params = {"lr": lr, "momentum": 0.0, "betas": [1 - 0.1 * (study + 1), 0.999]}
        config = {"optimizer_params": params, "optimizer_label": f"{optimizer}[lr={lr:g}]"}
        if model_params:
            config |= {"model_params": model_params[study], "model_label": f"{model}[dropout={study}]"}
        for seed in range(seeds):
            value = base + 0.01 * study + 0.002 * seed
            record = make_record(model=model, optimizer=optimizer, seed=seed, metric_value=value, config=config)
            chosen = {"optimizer.lr": lr, "optimizer.betas[0]": params["betas"][0]}
            record["tuning"] = {
                "entry": {"model": model, "dataset": "digits", "optimizer": optimizer}, "sampler": "quasirandom",
                "space": SPACE | ({"model.dropout": "0..0.5"} if model_params else {}), "trials": 4,
                "studies": len(points), "chosen_by": [study], "search_seeds": 1, "chosen": chosen, "chosen_lr": lr,
            }  # fmt: skip
            records.append(record)
    return records


def tuning() -> list[dict]:
    """sgd and adam tuned on mlp and cnn, two studies each, every study choosing its own learning rate."""
    return [
        *final_runs("mlp", "sgd", (0.1, 0.3), 0.90),
        *final_runs("mlp", "adam", (0.003, 0.01), 0.93),
        *final_runs("cnn", "sgd", (0.05, 0.2), 0.80),
        *final_runs("cnn", "adam", (0.001, 0.03), 0.83),
    ]


def test_the_studies_of_one_entry_are_one_cell_with_every_study_and_seed():
    table = cell_table(runs_frame(tuning()))
    assert len(table) == 4 and sorted(set(table["optimizer"])) == ["adam (tuned)", "sgd (tuned)"]
    mlp_adam = table[(table["model"] == "mlp") & (table["optimizer"] == "adam (tuned)")].iloc[0]
    assert sorted(mlp_adam["values"]) == pytest.approx([0.93, 0.932, 0.934, 0.94, 0.942, 0.944])
    settings = mlp_adam["settings"]  # the searched parameters are the studies' own: left out of the entry's cell
    assert settings["optimizer_params"] == {"momentum": 0.0} and settings["optimizer_label"] == "adam (tuned)"
    assert table.groupby("model")["problem"].nunique().tolist() == [1, 1]  # sgd and adam compete on each model
    assert table["optimizer_key"].nunique() == 2  # one contestant per optimizer across the models


def test_report_stats_of_a_tuning_compares_its_entries(tmp_path, capsys):
    store = Store(tmp_path)
    for record in tuning():
        store.write(record)
    assert main(["report", str(tmp_path), "--stats"]) == 0
    text = capsys.readouterr().out
    table, stats = text.split("Significance:")
    assert "adam[lr=0.003]" in table and "adam[lr=0.01]" in table  # the summary keeps a row per chosen point
    assert "[lr=" not in stats  # the statistics know the entries only
    significance = stats.split("Optimizer wins")[0]
    rows = [line.split() for line in significance.splitlines() if line.startswith("digits")]
    # 'digits  mlp / adam (tuned)  1  accuracy 0.937 ± 0.006  6  best': the mean over 2 studies x 3 seeds is
    # base + 0.005 + 0.002, each entry has 6 runs
    assert [(" ".join(row[1:5]), row[5], row[7], row[10]) for row in rows] == [
        ("mlp / adam (tuned)", "1", "0.937", "6"),
        ("mlp / sgd (tuned)", "2", "0.907", "6"),
        ("cnn / adam (tuned)", "3", "0.837", "6"),
        ("cnn / sgd (tuned)", "4", "0.807", "6"),
    ]
    assert "Wins: adam (tuned) 2; ties or undecided: 0" in stats
    scores = stats.split("Across workloads (after rliable")[1].split("Probability of improvement")[0]
    contestants = [line.split()[:4] for line in scores.splitlines() if "(tuned)" in line]
    assert contestants == [["adam", "(tuned)", "2", "12"], ["sgd", "(tuned)", "2", "12"]]  # 2 workloads, 12 runs
    assert "adam (tuned)  sgd (tuned)  1.00 [1.00, 1.00]    2            adam (tuned) better" in stats


def test_runs_without_a_tuning_entry_compete_as_before():
    untuned = [make_record(model=model, optimizer="sgd", seed=seed, metric_value=value + 0.001 * seed)
               for model, value in (("mlp", 0.95), ("cnn", 0.79)) for seed in range(3)]  # fmt: skip
    runs = runs_frame(tuning() + untuned)
    wins = wins_frame(runs)
    assert list(wins["contestants"]) == [3, 3]  # sgd (untuned), sgd (tuned) and adam (tuned) on each model
    assert dict(zip(wins["workload"], wins["winner"], strict=True)) == {"cnn on digits": "adam (tuned)",
                                                                         "mlp on digits": "sgd"}  # fmt: skip
    result = across_frame(runs)
    assert sorted(result.scores["contestant"]) == ["adam (tuned)", "sgd", "sgd (tuned)"]
    plain = runs_frame(untuned)
    assert entry_runs(plain) is plain
    trials_only = runs_frame([dict(r, tuning={"trials": 3}) for r in untuned])  # a tuning entry naming no entry
    assert entry_runs(trials_only) is trials_only


def test_searched_model_parameters_do_not_split_the_entry_either():
    dropouts = {"sgd": (0.1, 0.3), "adam": (0.2, 0.0)}  # each study chose its own dropout too
    params = {name: [{"hidden": 64, "dropout": p} for p in chosen] for name, chosen in dropouts.items()}
    records = [
        *final_runs("mlp", "sgd", (0.1, 0.3), 0.90, model_params=params["sgd"]),
        *final_runs("mlp", "adam", (0.003, 0.01), 0.93, model_params=params["adam"]),
    ]
    table = cell_table(runs_frame(records))
    assert list(table["model"]) == ["mlp", "mlp"] and table["problem"].nunique() == 1
    assert json.loads(table["problem"].iloc[0])["model_params"] == {"hidden": 64}
    text = stats_tables(runs_frame(records))
    assert "Wins: adam (tuned) 1" in text
