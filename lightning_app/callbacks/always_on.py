"""The callbacks every run gets, each declared as its own top-level config key so that `--print_config` and the
run's saved `config.yaml` show it, and `--KEY null` (or `KEY: null` in a config file) switches it off.

They sit beside `trainer.callbacks`, not in it: a config that lists its own `trainer.callbacks` replaces that list
(jsonargparse replaces lists), and would silently drop ours. A subclass of the named class may take a key's place
(`--progress_bar lightning.pytorch.callbacks.RichProgressBar`).
"""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import ProgressBar

from foundation.errors import ConfigError
from lightning_app.callbacks.exact_resume import DeterministicStepSeed, LoaderPositionOnResume
from lightning_app.callbacks.final_checkpoint import LastCheckpointAtEnd
from lightning_app.callbacks.fit_summary import FitSummary
from lightning_app.callbacks.graceful_stop import GracefulStop
from lightning_app.callbacks.last_step import ValidateAtLastStep
from lightning_app.callbacks.progress import RunProgressBar
from lightning_app.checkpointing.run_record import RunRecord

# config key: the class every run gets there
ALWAYS_ON: dict[str, type[L.Callback]] = {
    "graceful_stop": GracefulStop,
    "deterministic_step_seed": DeterministicStepSeed,
    "loader_position_on_resume": LoaderPositionOnResume,
    "fit_summary": FitSummary,
    "run_record": RunRecord,
    "validate_at_last_step": ValidateAtLastStep,
    "last_checkpoint_at_end": LastCheckpointAtEnd,
    "progress_bar": RunProgressBar,
}
# A replacement must subclass the key's class; any of Lightning's progress bars may replace ours.
_BASE_CLASS = {"progress_bar": ProgressBar}

# Keys whose behaviour a run's safety needs, with the reason `null` is refused.
CANNOT_SWITCH_OFF = {
    "loader_position_on_resume": "without it a fit resumed mid-epoch silently replays that epoch from its first "
                                 "batch",
    "nonfinite_loss": "a NaN or infinite loss would be applied to the weights and saved into last.ckpt (pass "
                      "--nonfinite_loss.action skip to skip such steps instead)",
}


def switch_off_refused(key: str) -> str:
    """The sentence for `--KEY null` on a key of `CANNOT_SWITCH_OFF`."""
    return (f"--{key} cannot be switched off: {CANNOT_SWITCH_OFF[key]}; drop the null given to it on the command line "
            "or in a config.")


def add_always_on_arguments(parser) -> None:
    """One optional group per `ALWAYS_ON` key, defaulting to our class.

    `add_subclass_arguments` rather than `add_lightning_class_args`: LightningCLI would hand a switched-off (null)
    callback to the Trainer as `None`; `always_on_callbacks` leaves it out instead.
    """
    for key, default in ALWAYS_ON.items():
        parser.add_subclass_arguments(_BASE_CLASS.get(key, default), key, fail_untyped=False, required=False)
        parser.set_defaults({key: {"class_path": f"{default.__module__}.{default.__qualname__}"}})


def always_on_callbacks(config_init, seed, trainer_callbacks: list) -> list[L.Callback]:
    """The instantiated `ALWAYS_ON` callbacks that are switched on (`config_init`: LightningCLI's instantiated
    config of the subcommand).

    `deterministic_step_seed.init_args.seed: null` takes the run's `seed_everything`. The progress bar steps aside
    when `trainer.callbacks` names a progress bar or `--trainer.enable_progress_bar false` (Lightning refuses both).
    """
    for key in CANNOT_SWITCH_OFF:
        if key in ALWAYS_ON and config_init.get(key) is None:
            raise ConfigError(switch_off_refused(key))
    callbacks = [config_init.get(key) for key in ALWAYS_ON]
    callbacks = [callback for callback in callbacks if callback is not None]
    for callback in callbacks:
        if isinstance(callback, DeterministicStepSeed) and callback.seed is None:
            callback.seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else 0
    bar_elsewhere = any(isinstance(callback, ProgressBar) for callback in trainer_callbacks)
    if bar_elsewhere or config_init.trainer.get("enable_progress_bar") is False:
        callbacks = [callback for callback in callbacks if not isinstance(callback, ProgressBar)]
    return callbacks
