"""Where a subcommand writes, decided before anything is built, and never over another run.

`fit` logs into a new `version_N` (claimed atomically: `run_dirs.claim_versions_atomically`), or, resumed, into the
checkpoint's own run, which it then holds (`run_lock`): a second fit cannot resume it at the same time. A run that
went on past the checkpoint (`--ckpt_path` of an earlier epoch, or `best` before the end) is left as it is and the
resumed fit gets a new version beside it. `validate`/`test`/`predict` write into the checkpoint's run
(`evaluations/`), never a new version; without `--ckpt_path`, beside the config's runs, with a line saying the
weights are untrained.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import lightning as L

from lightning_app import callbacks as app_callbacks
from lightning_app.checkpointing.run_dirs import (
    check_writable,
    evaluation_dir,
    fixed_dirpaths,
    later_resume_point,
    refuse_to_overwrite,
    refuse_to_rewind,
    run_of,
)
from lightning_app.checkpointing.run_lock import RunLock, hold_checkpoint_dir, hold_run
from lightning_app.parsing.command_line import CommandLine
from lightning_app.parsing.console import rank_zero_info_stderr


class RunPlacement:
    """The run directories of one command line (module docstring); `release()` frees a held run."""

    def __init__(self, command_line: CommandLine):
        self.command_line = command_line
        self.held: list[RunLock | None] = []  # a resumed run's directory, fixed checkpoint dirpaths: while it trains
        self.runs_folder = Path(".")  # an evaluation's: where the config's runs go

    def release(self) -> None:
        for lock in self.held:
            if lock is not None:
                lock.release()
        self.held = []

    def place(self, subcommand: str, config, checkpoint_state: dict | None) -> None:
        """Point the logger (and checks) of `config` where `subcommand` writes; refuse what would overwrite a run."""
        trainer, ckpt = config.trainer, config.get("ckpt_path")
        logger = tensorboard_args(trainer)
        if subcommand != "fit":
            self.runs_folder = Path(logger.save_dir) / (logger.get("name") or "lightning_logs") \
                if logger is not None and logger.get("save_dir") else Path(trainer.get("default_root_dir") or ".")
            trainer.logger = False  # evaluations write into the checkpoint's run, never a new version directory
            # ... and need none of the run's checkpoint callbacks (Lightning would ask for them by name)
            warnings.filterwarnings("ignore", message=".*callbacks used to create the checkpoint need to be.*")
            trainer.callbacks = [c for c in trainer.get("callbacks") or []
                                 if "ModelCheckpoint" not in str(getattr(c, "class_path", ""))]
            return
        if logger is not None and self.command_line.typed("trainer.default_root_dir") and not \
                self.command_line.typed("trainer.logger.save_dir"):
            logger.save_dir = trainer.default_root_dir  # --trainer.default_root_dir is honoured, not ignored
        step = checkpoint_state.get("global_step", -1) if ckpt else None
        run = run_of(ckpt) if ckpt else None
        if logger is not None and run is not None:
            self._resume_into(logger, run, ckpt, step)
        root = Path(logger.save_dir) if logger is not None else Path(trainer.default_root_dir or ".")
        typed_root = self.command_line.typed("trainer.default_root_dir") or logger is None
        check_writable(root, "--trainer.default_root_dir" if typed_root else "--trainer.logger.init_args.save_dir")
        dirpaths = fixed_dirpaths(trainer)
        for dirpath in dirpaths:
            check_writable(dirpath, "ModelCheckpoint dirpath")
        self.held += [hold_checkpoint_dir(dirpath) for dirpath in dirpaths]  # before the check below: no race
        if ckpt is None:
            refuse_to_overwrite(trainer)
        else:
            refuse_to_rewind(trainer, ckpt, step)

    def _resume_into(self, logger, run: tuple[Path, str, int], ckpt: str, step: int) -> None:
        run_dir = run[0] / run[1] / f"version_{run[2]}"
        logger.save_dir, logger.name = str(run[0]), run[1]
        if later_resume_point(run_dir / "checkpoints", ckpt, step) is not None:
            rank_zero_info_stderr(f"--ckpt_path {ckpt}: {run_dir} went on to a later last.ckpt; continuing from this "
                                  f"checkpoint in a new run beside it, so {run_dir.name} stays as it is.")
            return
        logger.version = run[2]
        warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty.*")
        self.held.append(hold_run(run_dir))

    def evaluation_outputs(self, subcommand: str, config, checkpoint_state: dict | None) -> list[L.Callback]:
        """The callbacks that write what `validate`/`test`/`predict` produce (none for `fit`)."""
        if subcommand not in ("validate", "test", "predict"):
            return []
        ckpt = config.get("ckpt_path")
        stem = Path(ckpt).stem if ckpt else "untrained"
        folder = evaluation_dir(ckpt) if ckpt else self.runs_folder / "evaluations"
        if not ckpt:  # forgetting --ckpt_path scores weights no fit trained
            rank_zero_info_stderr(f"warning: no --ckpt_path: {subcommand} uses the weights the config builds, which "
                                  "no fit trained; pass --ckpt_path last (or a .ckpt file) to use your run. Results go "
                                  f"to {folder}.")
        if subcommand == "predict":
            return [app_callbacks.PredictionFiles(str(folder / f"{stem}.predict"))]
        step = checkpoint_state.get("global_step") if ckpt else None
        return [app_callbacks.EvaluationRecord(str(folder), f"{stem}.{subcommand}", ckpt, step)]


def tensorboard_args(trainer_config):
    """The TensorBoardLogger's init_args of a trainer config, or None (another logger, or none)."""
    logger = trainer_config.get("logger")
    init = getattr(logger, "init_args", None)
    if init is None or "TensorBoardLogger" not in str(getattr(logger, "class_path", "")):
        return None
    return init
