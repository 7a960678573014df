"""TensorBoard's HPARAMS tab with the task's own metrics as columns.

Lightning's `TensorBoardLogger.log_hyperparams(params, metrics)` declares the columns but also writes `metrics`'
values as scalars at step 0; with `default_hp_metric: false` (our configs) it declares none. This writes only the
declaration (`torch.utils.tensorboard.summary.hparams`), once the first validation has named the metrics; the tab
then reads each column's value from the run's scalar of that name (the latest validation).
"""

from __future__ import annotations

from lightning.fabric.utilities.logger import _convert_params, _flatten_dict
from lightning.pytorch.loggers import TensorBoardLogger


def declare_metric_columns(logger, metric_names: list[str]) -> bool:
    """Declare `metric_names` (e.g. `val/loss`, `val/f1`) as the HPARAMS columns of a TensorBoard run, with the
    hyperparameters Lightning recorded (`hparams.yaml`) as its rows' settings; False when `logger` is not
    TensorBoard (nothing to declare)."""
    if not isinstance(logger, TensorBoardLogger) or not metric_names:
        return False
    from torch.utils.tensorboard.summary import hparams

    params = logger._sanitize_params(_flatten_dict(_convert_params(dict(logger.hparams))))
    params = {name: value for name, value in params.items() if isinstance(value, (bool, int, float, str))}
    writer = logger.experiment._get_file_writer()
    for summary in hparams(params, dict.fromkeys(metric_names, 0.0)):
        writer.add_summary(summary)
    return True
