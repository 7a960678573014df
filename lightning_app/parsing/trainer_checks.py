"""Trainer settings checked before anything is built, and every refusal of Lightning's as one sentence naming the
option, whatever Lightning's message says.

- Before the model, data or trainer is built: the checks Lightning does not make (`check_trainer_options`).
- `Trainer.__init__` refuses most bad values, each worded its own way. `probe_trainer` builds a bare Trainer from
  the config's plain settings before the model and data are built, and `trainer_option_error` names the option by
  building one with each setting alone, so the sentence does not depend on the wording (falling back to an option
  the message names).
- One check Lightning makes late: `val_check_interval` against the training batches of an epoch, in
  `fit_loop.setup_data`, after the run directory and its config.yaml were written (measured on Lightning 2.6).
  `check_batch_count` applies Lightning's rule once the data is built, before the trainer starts
  (tests/lightning_app/test_settings_checked_before_training.py fails if Lightning's rule changes);
  `guard_loop_setup` words
  anything else the loop refuses.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import re
import warnings
from collections.abc import Callable

import lightning as L
import torch
from lightning.pytorch.trainer.connectors.data_connector import _parse_num_batches
from lightning.pytorch.trainer.states import RunningStage
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from foundation.contract import TaskData
from foundation.errors import ConfigError
from lightning_app.parsing.config_callables import check_on_batch

REFUSALS = (MisconfigurationException, ValueError)
_QUIET = {"logger": False, "enable_checkpointing": False, "enable_progress_bar": False, "enable_model_summary": False}


def check_trainer_options(trainer) -> None:
    """What Lightning would accept but cannot work (checked before anything is built)."""
    accumulate = trainer.get("accumulate_grad_batches", 1)
    if accumulate is None or int(accumulate) < 1:
        raise ConfigError(f"--trainer.accumulate_grad_batches={accumulate} must be at least 1 (1 = no "
                          "accumulation); pass a positive integer.")
    interval = trainer.get("val_check_interval")
    if interval is not None and not isinstance(interval, bool) and interval <= 0:  # Lightning divides by it
        raise ConfigError(f"--trainer.val_check_interval={interval} must be positive; pass a number of training "
                          "batches (an integer) or a fraction of an epoch in (0, 1].")
    accelerator = str(trainer.get("accelerator") or "auto")
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--trainer.accelerator={accelerator} (set by a config such as configs/trainer/gpu.yaml) "
                          "needs a CUDA GPU and none is visible; drop that config or pass --trainer.accelerator cpu.")
    strategy_args = getattr(trainer.get("strategy"), "init_args", None)
    hook = strategy_args.get("ddp_comm_hook") if strategy_args is not None else None
    # Lightning's DDPStrategy._register_ddp_hooks registers them on CUDA only, though torch takes them on gloo since
    # pytorch/pytorch#58784 (tests/lightning_app/test_settings_checked_before_training.py notices when that changes)
    if hook is not None and (accelerator == "cpu" or accelerator == "auto" and not torch.cuda.is_available()):
        name = hook if isinstance(hook, str) else \
            f"{getattr(hook, '__module__', '')}.{getattr(hook, '__qualname__', type(hook).__name__)}"  # as typed
        raise ConfigError(f"--trainer.strategy.init_args.ddp_comm_hook={name}: Lightning registers DDP communication "
                          "hooks on CUDA only, so this CPU run would ignore it; drop it, or train on GPUs "
                          "(--trainer.accelerator gpu).")


def probe_trainer(trainer_config) -> None:
    """A bare Trainer built from the config's plain settings (no logger, callbacks, plugins or strategy object), before
    the model and data are: Lightning's checks of `Trainer.__init__` run first, and nothing is written."""
    settings = {name: value for name, value, default in _configured(trainer_config)}
    try:
        with _silenced():
            L.Trainer(**_QUIET, **settings)
    except REFUSALS as error:
        raise trainer_option_error(error, trainer_config) from None


def trainer_option_error(error: Exception, trainer_config) -> ConfigError:
    """One sentence naming the Trainer option behind `error` (raised while the Trainer was built)."""
    name = _option_alone_refused(trainer_config, type(error)) or option_named(str(error))
    if name is None:
        return ConfigError(f"--trainer: Lightning refuses these settings ({_first_sentence(error)}); check the "
                           "--trainer options of your config and command line.")
    return refusal(name, trainer_config.get(name), error)


def refusal(name: str, value, error: Exception) -> ConfigError:
    return ConfigError(f"--trainer.{name}={value} is refused by Lightning ({_first_sentence(error)}); pass another "
                       f"value (`python main.py fit --help` documents --trainer.{name}).")


def option_named(message: str) -> str | None:
    """The Trainer option a message mentions first (`val_check_interval`, `Trainer(devices=0)`, "Precision '7'")."""
    found = [(match.start(), name) for name in _trainer_options()
             if (match := re.search(rf"(?<![\w.]){name}(?!\w)", message, re.IGNORECASE))]
    return min(found)[1] if found else None


def _option_alone_refused(trainer_config, error_type: type) -> str | None:
    """The first configured Trainer setting that a bare Trainer refuses on its own, with the same kind of error."""
    for name, value, _ in _configured(trainer_config):
        try:
            with _silenced():
                L.Trainer(**_QUIET, **{name: value})
        except error_type:
            return name
        except Exception:  # noqa: S112 - another kind of failure: not this error's cause
            continue
    return None


def _configured(trainer_config) -> list[tuple[str, object, object]]:
    """(name, value, default) of each plain Trainer setting the config changes from Lightning's default."""
    found = []
    for name, default in _trainer_options().items():
        value = trainer_config.get(name, default)
        if name in _QUIET or name in ("callbacks", "plugins") or hasattr(value, "class_path") or value == default:
            continue
        found.append((name, value, default))
    return found


@contextlib.contextmanager
def _silenced():
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def _trainer_options() -> dict:
    parameters = inspect.signature(L.Trainer.__init__).parameters
    return {name: p.default for name, p in parameters.items() if name != "self" and p.kind == p.KEYWORD_ONLY}


def _first_sentence(error: Exception) -> str:
    text = " ".join(str(error).split())
    return re.split(r"(?<=[^\d\s])\. ", text, maxsplit=1)[0].rstrip(".")[:200]


def check_batch_count(trainer: L.Trainer, loader_length: int) -> None:
    """Lightning's rule from `fit_loop.setup_data`: an integer `val_check_interval` counts training batches of one
    epoch (after `limit_train_batches`), unless `check_val_every_n_epoch` is None or validation is off."""
    interval = trainer.val_check_interval
    batches = _parse_num_batches(RunningStage.TRAINING, loader_length, trainer.limit_train_batches)
    if isinstance(interval, int) and interval > batches and trainer.check_val_every_n_epoch is not None \
            and trainer.limit_val_batches > 0:
        raise ConfigError(f"--trainer.val_check_interval={interval} is more than the {batches} training batches of "
                          f"an epoch; pass at most {batches}, a fraction of an epoch such as 0.5, or also "
                          "--trainer.check_val_every_n_epoch null to count batches across epochs.")


def checked_trainer(build: Callable[[], L.Trainer], trainer_config) -> L.Trainer:
    """`build()`, with Lightning's refusals at construction and in the fit loop's set-up as one sentence each."""
    try:
        trainer = build()
    except REFUSALS as error:  # Lightning's wording varies: the option is found by trying it alone
        raise trainer_option_error(error, trainer_config) from None
    guard_loop_setup(trainer, trainer_config)
    return trainer


def guard_loop_setup(trainer: L.Trainer, trainer_config) -> None:
    """A refusal from `fit_loop.setup_data` that names a Trainer option becomes one sentence naming it."""
    setup_data = trainer.fit_loop.setup_data

    def checked_setup_data():
        try:
            return setup_data()
        except REFUSALS as error:
            name = option_named(str(error))
            if name is None:
                raise
            raise refusal(name, trainer_config.get(name), error) from None

    trainer.fit_loop.setup_data = checked_setup_data


def check_before_fit(trainer: L.Trainer, datamodule, callables: list) -> None:
    """On one process, the training split is built (tokenized into the cache, as `fit` would do next) so that the
    batch count and the config's functions are checked on real data before the trainer writes the run directory."""
    count = isinstance(trainer.val_check_interval, int) and not trainer.overfit_batches
    if trainer.world_size != 1 or not isinstance(datamodule, TaskData) or not (count or callables):
        return
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    if count:
        check_batch_count(trainer, len(loader))
    if callables:  # a batch collated from the first examples: the loader's own order and random state stay untouched
        examples = [loader.dataset[index] for index in range(min(loader.batch_size or 1, len(loader.dataset)))]
        check_on_batch(callables, loader.collate_fn(examples))
