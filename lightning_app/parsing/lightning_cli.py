"""`BertCLI`: LightningCLI with subclass mode for model and data, the data<->model contract, checkpoints that
describe their run, and one sentence for every mistake (README "Nothing lost, nothing silent").

What it adds to LightningCLI, in the order a run meets it:
- parsing: one jsonargparse parse of what `command_line` collects (config files < a `--ckpt_path` checkpoint's
  recorded settings (`from_checkpoint`) < `PL_FIT__...` variables < typed options); exact option names, short class
  names; an unknown option gets "did you mean" (`parser_errors`, `hf_names`);
- before anything is built: option, hardware and directory checks (`before_instantiate_classes`);
- before the trainer runs: `foundation.contract.connect(model, data)` and the checkpoint-fits check;
- the callbacks every run gets, each a config key (`callbacks.always_on`, README table "What every run gets");
- after `fit`: one more validation when the run stopped between validations.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint, ModelSummary, RichModelSummary
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_info

from foundation.contract import TaskData, TaskModel, connect
from foundation.errors import ConfigError
from lightning_app import callbacks as app_callbacks
from lightning_app.checkpointing.checkpoint_io import AtomicCheckpointIO
from lightning_app.checkpointing.checkpoints import check_checkpoint_fits, load_checkpoint
from lightning_app.checkpointing.chosen_checkpoint import describe_choice
from lightning_app.checkpointing.from_checkpoint import checkpoint_settings, newest_run_unsaved, resolve_ckpt_path
from lightning_app.checkpointing.resume_differences import refuse_other_process_count
from lightning_app.checkpointing.run_dirs import claim_versions_atomically
from lightning_app.checkpointing.run_lock import release_run_locks
from lightning_app.parsing.command_line import SUBCOMMANDS, CommandLine
from lightning_app.parsing.config_callables import check_sources, config_callables
from lightning_app.parsing.config_files import check_config_files
from lightning_app.parsing.console import quiet_console, rank_zero_info_stderr
from lightning_app.parsing.parser_errors import HintingParser, option_sections, option_strings
from lightning_app.parsing.run_placement import RunPlacement
from lightning_app.parsing.trainer_checks import check_before_fit, check_trainer_options, checked_trainer, probe_trainer


class BertCLI(LightningCLI):
    """LightningCLI for this project's models and data modules (module docstring)."""

    def __init__(self, args: list[str], run: bool = True, from_sys_argv: bool = False, **kwargs):
        # jsonargparse resolves a bare class name (`--model MaskedLanguageModel`) among the *imported* subclasses of
        # the base type; with L.LightningModule/L.LightningDataModule as bases ours must be imported first.
        import data_modules  # noqa: F401
        import models  # noqa: F401

        self.command_line = CommandLine.parse(args)  # `args` is sys.argv[1:] from main.py (`from_sys_argv`)
        self.checkpoint_state: dict | None = None
        self.differences: list[str] = []
        self.placement = RunPlacement(self.command_line)  # where the subcommand writes (and the run it holds)
        # allow_abbrev: jsonargparse 4.x still expands `--trainer.max_step` to max_steps (deprecated, off in v5.0);
        # default_env off: `CommandLine.arguments()` passes PL_* variables on, ranked above config files.
        strict = {"allow_abbrev": False, "default_env": False}
        try:
            super().__init__(model_class=L.LightningModule, datamodule_class=L.LightningDataModule,
                             subclass_mode_model=True, subclass_mode_data=True,
                             save_config_callback=app_callbacks.SaveRunConfig, seed_everything_default=42,
                             auto_configure_optimizers=False, parser_class=HintingParser,
                             parser_kwargs={**strict, **{name: strict for name in SUBCOMMANDS}},
                             args=args, run=run, **kwargs)
        finally:
            if run:  # the subcommand is over, however it ended: its run directory is free again
                self._release_runs()

    def _release_runs(self) -> None:
        self.placement.release()
        release_run_locks(getattr(getattr(self, "trainer", None), "loggers", None) or [])

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(app_callbacks.NonFiniteLossGuard, "nonfinite_loss")
        app_callbacks.add_always_on_arguments(parser)  # graceful_stop, progress_bar, ... (README table)

    # --- parsing --------------------------------------------------------------------------------------------
    def parse_arguments(self, parser: LightningArgumentParser, args) -> None:
        try:
            self._parse(parser)
        except ConfigError as error:  # a bad value from a PL_* variable names the variable
            raise ConfigError(self.command_line.blame_variable(str(error))) from None

    def _parse(self, parser: LightningArgumentParser) -> None:
        """One jsonargparse parse of `CommandLine.arguments()` (precedence in `command_line`'s docstring); with
        `--ckpt_path`, the checkpoint's recorded settings join in at their rank."""
        line = self.command_line
        sub_parser = getattr(self, "_subcommand_parsers", {}).get(line.subcommand, parser)  # run=False: no subcommands
        line.keep_environment(option_sections(sub_parser))
        parser.known_options = sub_parser.known_options = option_strings(sub_parser)
        check_config_files(line.config_files)
        if line.ckpt_path is None or line.subcommand is None or line.ckpt_path == "null":
            self.config = parser.parse_args(line.arguments())
            return
        configured = None
        if line.config_files or line.typed("model") or line.typed("data"):
            # what the config files say, to compare with the checkpoint (printing waits for the full config)
            first = [token for token in line.arguments() if not token.startswith("--print_config")]
            configured = parser.parse_args(first)[line.subcommand]
        unsaved = line.subcommand == "fit" and line.ckpt_path == "last" and configured is not None \
            and newest_run_unsaved(configured)
        if unsaved:
            rank_zero_info_stderr(f"--ckpt_path last: the newest run, {unsaved}, has no checkpoint yet (it stopped "
                                  "before its first save); starting from the beginning. To continue an older run, "
                                  "pass its last.ckpt.")
            self.config = parser.parse_args(line.arguments(ckpt_path="null"))
            return
        path = resolve_ckpt_path(line.ckpt_path, configured)
        self.checkpoint_state = load_checkpoint(path)
        settings, self.differences = checkpoint_settings(self.checkpoint_state, path, configured, line)
        self.config = parser.parse_args(line.arguments(settings, str(path)))

    def _parse_ckpt_path(self) -> None:
        """Off: Lightning's own merge of the checkpoint's hyperparameters overrides options the user typed (open
        Lightning issues #20801, #20310); `parse_arguments` has already made the checkpoint's settings the config, at
        their rank. Pinned by tests/end_to_end/test_extending_the_project.py and
        tests/lightning_app/test_upstream_ckpt_path_merge.py."""

    # --- before anything is built ---------------------------------------------------------------------------
    def before_instantiate_classes(self) -> None:
        if self.subcommand is None:  # run=False: build the objects only
            return
        config = self.config[self.subcommand]
        if config.get("nonfinite_loss", "") is None:  # `nonfinite_loss: null` in a config file
            raise ConfigError(app_callbacks.always_on.switch_off_refused("nonfinite_loss"))
        if config.get("ckpt_path") and self.checkpoint_state is None:  # named in a config file: read it once, here
            self.checkpoint_state = load_checkpoint(config.ckpt_path)
        for line in self._chosen_checkpoint_lines(config) + [f"warning: {d}" for d in self.differences]:
            rank_zero_info_stderr(line)
        check_trainer_options(config.trainer)
        probe_trainer(config.trainer)
        check_sources(config_callables(config.trainer))
        self.placement.place(self.subcommand, config, self.checkpoint_state)

    def _chosen_checkpoint_lines(self, config) -> list[str]:
        which = self.command_line.ckpt_path
        if which not in ("last", "best") or not config.get("ckpt_path"):
            return []
        return [describe_choice(which, config.ckpt_path, self.checkpoint_state)]

    # --- the trainer and what every run gets ----------------------------------------------------------------
    def instantiate_trainer(self, **kwargs) -> L.Trainer:
        config = self.config[self.subcommand] if self.subcommand else self.config
        config_init = self.config_init[self.subcommand] if self.subcommand else self.config_init
        listed = without_checkpointing(list(config_init.trainer.get("callbacks") or []), config.trainer)
        always_on = app_callbacks.always_on_callbacks(config_init, config.get("seed_everything"), listed)
        kwargs["callbacks"] = listed + always_on + self.placement.evaluation_outputs(self.subcommand, config,
                                                                                          self.checkpoint_state)
        trainer = checked_trainer(partial(super().instantiate_trainer, **kwargs), config.trainer)
        if trainer.fast_dev_run:  # Lightning 2.6's ModelCheckpoint.on_train_end writes save_last even under
            for checkpoint in trainer.checkpoint_callbacks:  # fast_dev_run, which "disables checkpointing"
                checkpoint.save_last = False  # (pinned by tests/end_to_end/test_writes_nothing_unasked.py)
        trainer.callbacks = [app_callbacks.RunModelSummary(c._max_depth) if type(c) in (ModelSummary, RichModelSummary)
                             else c for c in trainer.callbacks]  # Lightning's summary prints `Total FLOPs: 0`
        claim_versions_atomically(trainer.loggers)  # concurrent fits into one root get distinct version_N
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:  # sharded (FSDP) writers keep their own
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        return trainer

    # --- before the trainer runs ----------------------------------------------------------------------------
    def _connect_and_check(self) -> None:
        """The data<->model contract, then the checkpoint's fit to the built model, before anything is written."""
        if isinstance(self.model, TaskModel) and isinstance(self.datamodule, TaskData):
            connect(self.model, self.datamodule)
        ckpt = self.config[self.subcommand].get("ckpt_path")
        if ckpt is not None:
            state = self.checkpoint_state
            check_checkpoint_fits(self.model, ckpt, state)
            if self.subcommand == "fit":
                refuse_other_process_count(state, Path(ckpt), self.trainer.world_size)
        if self.subcommand == "fit":
            check_before_fit(self.trainer, self.datamodule, config_callables(self.config.fit.trainer))

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


def run_lightning_cli(argv: list[str], run: bool, from_sys_argv: bool = False) -> BertCLI:
    """Build and run `BertCLI`; a mistake the user can fix ends the process with one `error:` line (status 2)."""
    quiet_console()
    try:
        return BertCLI(args=argv, run=run, from_sys_argv=from_sys_argv)
    except KeyboardInterrupt:  # outside training (tokenizing, building); inside it GracefulStop or Lightning answers
        print("Interrupted (Ctrl-C) before training; nothing is left half-written. Run the same command again to "
              "start over.", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as error:
        cause = _user_error_in(error)
        if cause is None:
            raise
        if isinstance(cause, app_callbacks.StopRequested):
            print(str(cause), file=sys.stderr)
            raise SystemExit(128 + cause.signum) from None
        if isinstance(cause, ConfigError):
            cause = CommandLine.parse(argv).blame_config_file(str(cause))
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


def without_checkpointing(callbacks: list, trainer_config) -> list:
    """`--trainer.enable_checkpointing false` leaves the config's ModelCheckpoint callbacks out, with one line
    (Lightning refuses the combination, and the shipped configs all list one)."""
    if trainer_config.get("enable_checkpointing") is not False:
        return callbacks
    kept = [callback for callback in callbacks if not isinstance(callback, ModelCheckpoint)]
    if len(kept) < len(callbacks):
        rank_zero_info_stderr("--trainer.enable_checkpointing false: this run writes no checkpoints (the config's "
                              "ModelCheckpoint callbacks are left out).")
    return kept

