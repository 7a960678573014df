"""`BertCLI`: LightningCLI with subclass mode for model and data, the data<->model contract, checkpoints that
describe their run, and one sentence for every mistake (README "Nothing lost, nothing silent").

What it adds to LightningCLI, in the order a run meets it:
- parsing: a `--ckpt_path` checkpoint's recorded model and data settings become the config (`from_checkpoint`);
  unknown options get a hint for Hugging Face names (`hf_names`); environment variables `PL_FIT__...` are read;
- before anything is built: option, hardware and directory checks (`before_instantiate_classes`);
- before the trainer runs: `foundation.contract.connect(model, data)` and the checkpoint-fits check;
- the callbacks every run gets (`instantiate_trainer`, README table "What every run gets");
- after `fit`: one more validation when the run stopped between validations.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from foundation.contract import TaskData, TaskModel, connect
from foundation.errors import ConfigError
from lightning_app import callbacks as app_callbacks
from lightning_app.checkpoint_io import AtomicCheckpointIO
from lightning_app.checkpoints import check_checkpoint_fits, load_checkpoint
from lightning_app.command_line import SUBCOMMANDS, CommandLine
from lightning_app.config_files import check_config_files
from lightning_app.console import quiet_console
from lightning_app.from_checkpoint import checkpoint_settings, resolve_ckpt_path
from lightning_app.hf_names import hint_for
from lightning_app.parser_errors import one_sentence
from lightning_app.run_dirs import (
    check_writable,
    claim_versions_atomically,
    evaluation_dir,
    refuse_to_overwrite,
    run_of,
)
from lightning_app.run_record import RunRecord


class HintingParser(LightningArgumentParser):
    """jsonargparse's parser, reporting a bad option in one sentence (`parser_errors`) with "did you mean
    --data.batch_size?" for option names from Hugging Face's scripts (`hf_names`)."""

    def error(self, message: str, ex: Exception | None = None):
        hint = hint_for(message) if _is_unknown_option(message) else None
        sentence = one_sentence(message, hint) if self.exit_on_error else None
        if sentence is not None:  # the user's mistake in one line, instead of the usage text and an error tree
            raise ConfigError(sentence)
        return super().error(f"{message}\n{hint}" if hint else message, ex)


def _is_unknown_option(message: str) -> bool:
    return any(phrase in message for phrase in ("not accepted", "Unrecognized arguments", "No action for",
                                                "unrecognized arguments", "does not accept"))


class BertCLI(LightningCLI):
    """LightningCLI for this project's models and data modules (module docstring)."""

    def __init__(self, args: list[str], run: bool = True, from_sys_argv: bool = False, **kwargs):
        self.command_line = CommandLine.parse(args)
        self.checkpoint_state: dict | None = None
        self.differences: list[str] = []
        env = {"default_env": True}
        super().__init__(model_class=L.LightningModule, datamodule_class=L.LightningDataModule,
                         subclass_mode_model=True, subclass_mode_data=True,
                         save_config_callback=app_callbacks.SaveRunConfig, seed_everything_default=42,
                         auto_configure_optimizers=False, parser_class=HintingParser,
                         parser_kwargs={**env, **{name: env for name in SUBCOMMANDS}},
                         args=None if from_sys_argv else args, run=run, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(app_callbacks.NonFiniteLossGuard, "nonfinite_loss")

    # --- parsing --------------------------------------------------------------------------------------------
    def parse_arguments(self, parser: LightningArgumentParser, args) -> None:
        line = self.command_line
        if line.ckpt_path is None or line.subcommand is None or line.ckpt_path == "null":
            return super().parse_arguments(parser, args)
        args = line.args
        configured = None
        if line.config_files or line.typed("model") or line.typed("data"):
            super().parse_arguments(parser, args)  # what the config files say, to compare with the checkpoint
            configured = self.config[line.subcommand]
        path = resolve_ckpt_path(line.ckpt_path, configured)
        self.checkpoint_state = load_checkpoint(path)
        settings, self.differences = checkpoint_settings(self.checkpoint_state, path, configured, line)
        super().parse_arguments(parser, line.with_checkpoint(str(path), settings))

    def _parse_ckpt_path(self) -> None:
        """Replaces Lightning's own checkpoint-hyperparameter merge (which would override flags the user typed):
        `parse_arguments` has already made the checkpoint's settings the config. Pinned by
        tests/test_extending.py."""

    # --- before anything is built ---------------------------------------------------------------------------
    def before_instantiate_classes(self) -> None:
        if self.subcommand is None:  # run=False: build the objects only
            return
        config = self.config[self.subcommand]
        if self.differences:
            print("warning: " + "; ".join(self.differences), file=sys.stderr)
        _check_trainer_options(config.trainer)
        self._place_logs(config)

    def _place_logs(self, config) -> None:
        trainer, ckpt = config.trainer, config.get("ckpt_path")
        if self.subcommand != "fit":
            trainer.logger = False  # evaluations write into the checkpoint's run, never a new version directory
            # ... and need none of the run's checkpoint callbacks (Lightning would ask for them by name)
            warnings.filterwarnings("ignore", message=".*callbacks used to create the checkpoint need to be.*")
            trainer.callbacks = [c for c in trainer.get("callbacks") or []
                                 if "ModelCheckpoint" not in str(getattr(c, "class_path", ""))]
            return
        logger = _tensorboard_args(trainer)
        if logger is not None and self.command_line.typed("trainer.default_root_dir") and not \
                self.command_line.typed("trainer.logger.save_dir"):
            logger.save_dir = trainer.default_root_dir  # --trainer.default_root_dir is honoured, not ignored
        run = run_of(ckpt) if ckpt else None
        if logger is not None and run is not None:  # a resumed fit keeps logging into the checkpoint's run
            logger.save_dir, logger.name, logger.version = str(run[0]), run[1], run[2]
            warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty.*")
        root = Path(logger.save_dir) if logger is not None else Path(trainer.default_root_dir or ".")
        typed_root = self.command_line.typed("trainer.default_root_dir") or logger is None
        check_writable(root, "--trainer.default_root_dir" if typed_root else "--trainer.logger.init_args.save_dir")
        for callback in trainer.get("callbacks") or []:
            dirpath = getattr(getattr(callback, "init_args", None), "dirpath", None)
            if dirpath:
                check_writable(Path(dirpath), "ModelCheckpoint dirpath")
        if ckpt is None:
            refuse_to_overwrite(trainer)

    # --- the trainer and what every run gets ----------------------------------------------------------------
    def instantiate_trainer(self, **kwargs) -> L.Trainer:
        config = self.config[self.subcommand] if self.subcommand else self.config
        seed = config.get("seed_everything")
        extra = [app_callbacks.GracefulStop(), app_callbacks.DeterministicStepSeed(seed if isinstance(seed, int)
                                                                                   else 0),
                 app_callbacks.LoaderPositionOnResume(), app_callbacks.FitSummary(), RunRecord(),
                 app_callbacks.ValidateAtLastStep()]
        extra += self._evaluation_outputs(config)
        try:
            trainer = super().instantiate_trainer(**kwargs)
        except MisconfigurationException as error:
            raise ConfigError(f"--trainer: {str(error).splitlines()[0]}") from None
        if trainer.progress_bar_callback is not None and type(trainer.progress_bar_callback).__name__ in (
                "TQDMProgressBar", "RichProgressBar") and not _config_names_progress_bar(config):
            trainer.callbacks.remove(trainer.progress_bar_callback)
            extra.append(app_callbacks.RunProgressBar())
        trainer.callbacks.extend(extra)
        claim_versions_atomically(trainer.loggers)  # concurrent fits into one root get distinct version_N
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:  # sharded (FSDP) writers keep their own
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        return trainer

    def _evaluation_outputs(self, config) -> list[L.Callback]:
        ckpt = config.get("ckpt_path")
        stem = Path(ckpt).stem if ckpt else "untrained"
        folder = evaluation_dir(ckpt) if ckpt else Path(config.trainer.get("default_root_dir") or ".") / "evaluations"
        if self.subcommand in ("validate", "test"):
            return [app_callbacks.EvaluationRecord(str(folder), f"{stem}.{self.subcommand}", ckpt)]
        if self.subcommand == "predict":
            return [app_callbacks.PredictionFiles(str(folder / f"{stem}.predict"))]
        return []

    # --- before the trainer runs ----------------------------------------------------------------------------
    def _connect_and_check(self) -> None:
        """The data<->model contract, then the checkpoint's fit to the built model, before anything is written."""
        if isinstance(self.model, TaskModel) and isinstance(self.datamodule, TaskData):
            connect(self.model, self.datamodule)
        ckpt = self.config[self.subcommand].get("ckpt_path")
        if ckpt is not None:
            state = self.checkpoint_state or load_checkpoint(ckpt)
            check_checkpoint_fits(self.model, ckpt, state)

    before_fit = before_validate = before_test = before_predict = _connect_and_check

    def after_fit(self) -> None:
        """Every run ends with a figure logged at its last step: `ValidateAtLastStep` validates a step-bounded run
        inside the fit; this catches what it cannot (a last step in an epoch `check_val_every_n_epoch` skips)."""
        trainer, model = self.trainer, self.model
        last = getattr(model, "last_validated_step", None)
        if trainer.interrupted or not trainer.enable_validation or last == trainer.global_step:
            return
        rank_zero_info(f"Validation at the end of training (step {trainer.global_step}):")
        trainer.validate(model, datamodule=self.datamodule, verbose=False)
        rank_zero_info("  " + ", ".join(f"{k} {float(v):.4f}" for k, v in trainer.callback_metrics.items()
                                        if k.startswith("val")))


def _tensorboard_args(trainer_config):
    logger = trainer_config.get("logger")
    init = getattr(logger, "init_args", None)
    if init is None or "TensorBoardLogger" not in str(getattr(logger, "class_path", "")):
        return None
    return init


def _config_names_progress_bar(config) -> bool:
    return any("ProgressBar" in str(getattr(c, "class_path", "")) for c in config.trainer.get("callbacks") or [])


def _check_trainer_options(trainer) -> None:
    accumulate = trainer.get("accumulate_grad_batches", 1)
    if accumulate is None or int(accumulate) < 1:
        raise ConfigError(f"--trainer.accumulate_grad_batches={accumulate} must be at least 1 (1 = no "
                          "accumulation); pass a positive integer.")
    accelerator = str(trainer.get("accelerator") or "auto")
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--trainer.accelerator={accelerator} (set by a config such as configs/trainer/gpu.yaml) "
                          "needs a CUDA GPU and none is visible; drop that config or pass --trainer.accelerator cpu.")


def run_lightning_cli(argv: list[str], run: bool, from_sys_argv: bool = False) -> BertCLI:
    """Build and run `BertCLI`; a mistake the user can fix ends the process with one `error:` line (status 2)."""
    quiet_console()
    try:
        check_config_files(argv)
        return BertCLI(args=argv, run=run, from_sys_argv=from_sys_argv)
    except Exception as error:
        cause = _user_error_in(error)
        if cause is None:
            raise
        if isinstance(cause, app_callbacks.StopRequested):
            print(str(cause), file=sys.stderr)
            raise SystemExit(128 + cause.signum) from None
        print(f"error: {cause}", file=sys.stderr)
        raise SystemExit(1 if isinstance(cause, app_callbacks.NonFiniteLossError) else 2) from None


def _user_error_in(error: BaseException | None) -> BaseException | None:
    """The ConfigError/NonFiniteLossError/StopRequested behind `error` (jsonargparse wraps errors in __init__)."""
    seen = 0
    wanted = (ConfigError, app_callbacks.NonFiniteLossError, app_callbacks.StopRequested)
    while error is not None and seen < 20:
        if isinstance(error, wanted):
            return error
        error, seen = error.__cause__ or error.__context__, seen + 1
    return None


