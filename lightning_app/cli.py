"""The LightningCLI behind `main.py`: a YAML (or flags) picks the model and data classes by `class_path`.

    python main.py fit --config configs/custom_mlm.yaml
    python main.py validate --config configs/custom_mlm.yaml --ckpt_path best
    python main.py fit --config configs/custom_mlm.yaml --ckpt_path last      # resume an interrupted run
    python main.py fit --config configs/custom_mlm.yaml --print_config         # every option, documented
    python main.py report runs/custom_mlm/version_0                            # final metrics + curves.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import lightning as L
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.plugins.io import TorchCheckpointIO

from lightning_app.callbacks import (
    CheckpointOnInterrupt,
    DeterministicStepSeed,
    FitSummary,
    GradNormMonitor,
    NonFiniteLossError,
    NonFiniteLossGuard,
    SaveRunConfig,
    TokensPerSecond,
)
from lightning_app.checkpoint_io import AtomicCheckpointIO
from lightning_app.errors import ConfigError
from lightning_app.run_dirs import (
    check_checkpoint_fits,
    find_checkpoint,
    refuse_foreign_checkpoint,
    refuse_to_overwrite,
)


class BertCLI(LightningCLI):
    """LightningCLI with subclass mode for model and data, run-aware `--ckpt_path last|best`, and early checks."""

    def __init__(self, args: list[str] | None = None, run: bool = True, **kwargs):
        super().__init__(
            model_class=L.LightningModule,
            datamodule_class=L.LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            save_config_callback=SaveRunConfig,
            seed_everything_default=42,
            args=args,
            run=run,
            **kwargs,
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(NonFiniteLossGuard, "nonfinite_loss")

    def _parse_ckpt_path(self) -> None:
        # Lightning rebuilds the model from a checkpoint's hyperparameters, class included; a checkpoint of another
        # model would silently replace the config's model, so refuse it first.
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if ckpt_path and Path(ckpt_path).is_file():
            refuse_foreign_checkpoint(ckpt_path, self.config[subcommand].model.class_path)
        super()._parse_ckpt_path()

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        accumulate = config.trainer.get("accumulate_grad_batches", 1)
        if accumulate is None or int(accumulate) < 1:
            raise ConfigError(f"--trainer.accumulate_grad_batches={accumulate} must be at least 1 (1 = no "
                              "accumulation); pass a positive integer.")
        ckpt_path = config.get("ckpt_path")
        if ckpt_path in ("last", "best"):
            path, version = find_checkpoint(self._run_root(config), ckpt_path)
            config.ckpt_path = str(path)
            if self.subcommand == "fit":  # keep logging into the run being resumed
                config.trainer.logger.init_args.version = int(version.name.split("_")[1])
        elif ckpt_path is not None and not Path(ckpt_path).is_file():
            raise ConfigError(f"--ckpt_path {ckpt_path} does not exist; pass an existing .ckpt file, or `last`/"
                              "`best` for the newest run of this config.")
        if self.subcommand == "fit" and ckpt_path is None:
            refuse_to_overwrite(config.trainer)

    @staticmethod
    def _run_root(config) -> Path:
        logger = config.trainer.get("logger")
        init = getattr(logger, "init_args", None)
        if init is None or "save_dir" not in init:
            raise ConfigError("--ckpt_path last|best needs a TensorBoardLogger in the config (trainer.logger) to know "
                              "where the run lives; pass the path of a .ckpt file instead.")
        return Path(init.save_dir) / (init.get("name") or "lightning_logs")

    def _check_before_run(self) -> None:
        """Model/data/checkpoint agreement, checked before the trainer writes anything."""
        check = getattr(self.model, "check_datamodule", None)
        if callable(check):
            check(self.datamodule)
        ckpt_path = self.config[self.subcommand].get("ckpt_path")
        if ckpt_path is not None:
            check_checkpoint_fits(self.model, ckpt_path)

    before_fit = before_validate = before_test = before_predict = _check_before_run

    def instantiate_trainer(self, **kwargs) -> L.Trainer:
        trainer = super().instantiate_trainer(**kwargs)
        config = self.config[self.subcommand] if self.subcommand else self.config
        seed = config.get("seed_everything")
        trainer.callbacks.extend([FitSummary(), CheckpointOnInterrupt(), TokensPerSecond(), GradNormMonitor(),
                                  DeterministicStepSeed(seed if isinstance(seed, int) else 0)])
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:  # sharded (FSDP) writers keep their own
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        return trainer


def cli_main(args: list[str] | None = None, run: bool = True) -> BertCLI:
    """Entry point of `main.py`; tests call it with an argument list (or `run=False` to only build objects)."""
    argv = sys.argv[1:] if args is None else args
    if argv[:1] == ["report"]:
        from lightning_app.report import report_main

        return report_main(argv[1:])
    try:
        return BertCLI(args=args, run=run)
    except Exception as error:
        cause = _user_error_in(error)
        if cause is None:
            raise
        print(f"error: {cause}", file=sys.stderr)
        raise SystemExit(1 if isinstance(cause, NonFiniteLossError) else 2) from None


def _user_error_in(error: BaseException | None) -> BaseException | None:
    """The ConfigError/NonFiniteLossError behind `error`, if any (jsonargparse wraps errors raised in __init__)."""
    seen = 0
    while error is not None and seen < 20:
        if isinstance(error, ConfigError | NonFiniteLossError):
            return error
        error, seen = error.__cause__ or error.__context__, seen + 1
    return None
