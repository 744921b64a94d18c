"""scikit-learn's diabetes data (Efron et al., 2004), standardised on the training split only."""

from __future__ import annotations

import torch

from harness.data import fixed_split
from harness.specs import DatasetInfo, DatasetSplits


def load_diabetes(val_fraction=0.15, test_fraction=0.2, split_seed=0) -> DatasetSplits:
    """Raw (unscaled) features and target; both standardised with train-split statistics.

    Errors (RMSE, MAE) are reported in the original target units through
    ``target_mean``/``target_std``, so they compare with published numbers.
    """
    from sklearn.datasets import load_diabetes as sklearn_diabetes

    bunch = sklearn_diabetes(scaled=False)
    x = torch.tensor(bunch.data, dtype=torch.float32)
    y = torch.tensor(bunch.target, dtype=torch.float32)[:, None]
    train, val, test = fixed_split(len(x), val_fraction, test_fraction, split_seed)
    x_mean, x_std = x[train].mean(0), x[train].std(0)
    y_mean, y_std = y[train].mean(0), y[train].std(0)

    def split(index):
        return (x[index] - x_mean) / x_std, (y[index] - y_mean) / y_std

    info = DatasetInfo(
        task="regression",
        modality="tabular",
        input_shape=(x.shape[1],),
        output_dim=1,
        extra={
            "target_mean": y_mean.tolist(),
            "target_std": y_std.tolist(),
            "feature_names": list(bunch.feature_names),
        },
    )
    return DatasetSplits(split(train), split(val) if len(val) else None, split(test), info)  # val_fraction=0: None
