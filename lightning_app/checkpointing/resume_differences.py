"""What a resumed `fit` ignores: one line per model, optimizer or data setting where the config or the command line
differs from the checkpoint, saying which value the run continues with.

Who wins (`from_checkpoint` builds the config in this order): a setting typed on the command line wins over the
checkpoint; a config file's setting loses to the checkpoint (so an unrelated edit cannot silently change a run
mid-way). Optimizer settings are the exception: Lightning restores the optimizer's parameter groups (learning rate,
betas, epsilon, weight decay) and the schedule's base learning rates from the checkpoint after the optimizer is
built, so the checkpoint's values win even when typed (tests/lightning_app/test_resume_names_what_it_ignores.py pins
this).
"""

from __future__ import annotations

from pathlib import Path

from foundation.errors import ConfigError
from lightning_app.parsing.command_line import CommandLine

# Model settings that end up in the optimizer state Lightning restores on resume (models/optimization.py).
OPTIMIZER_STATE_SETTINGS = ("learning_rate", "head_learning_rate", "weight_decay", "adam_betas", "adam_epsilon",
                            "layer_decay")
PATH_OPTIONS = ("_file", "data_dir", "tokenizer", "cache_dir")


def resume_differences(section: str, recorded: dict, configured: dict, line: CommandLine) -> list[str]:
    """`resume: model.learning_rate 5e-05 -> 0.001 (your config): ...` for each differing setting of `section`."""
    lines = []
    for name, old, new in changed_settings(recorded, configured):
        key = f"{section}.{name}"
        source = "typed" if line.typed(key) else "your config"
        if section == "model" and name.split(".")[0] in OPTIMIZER_STATE_SETTINGS:
            verdict = (f"the checkpoint's {old} wins, because the optimizer state restored from it holds it; start a "
                       f"new fit to train with {new}")
        elif section == "data" and name == "batch_size":
            verdict = f"the checkpoint's {old} wins, because a resumed fit keeps its batch size"
        elif source == "typed":
            verdict = f"yours wins, the run continues with {new}"
        else:
            verdict = f"the checkpoint's {old} wins; type --{key} {new} to continue with yours"
        lines.append(f"resume: {key} {old} -> {new} ({source}): {verdict}.")
    return lines


def changed_settings(recorded: dict, configured: dict) -> list[tuple[str, object, object]]:
    """(name, recorded value, configured value) for each setting in both that differs; dict settings such as
    `model_config` are compared key by key (`model_config.hidden_dropout_prob`)."""
    found = []
    for name, old in recorded.items():
        if name not in configured:
            continue
        new = plain(configured[name])
        if isinstance(old, dict) and isinstance(new, dict):
            found += [(f"{name}.{key}", value, other) for key, value, other in changed_settings(old, new)]
            found += [(f"{name}.{key}", None, new[key]) for key in new if key not in old]
        elif normalized(name, old) != normalized(name, new):
            found.append((name, old, new))
    return found


def plain(value):
    """A jsonargparse Namespace as a dict; anything else as it is."""
    return value.as_dict() if hasattr(value, "as_dict") else value


def normalized(name: str, value):
    if isinstance(value, str) and name.endswith(PATH_OPTIONS):
        return str(Path(value).expanduser().absolute())
    if isinstance(value, tuple):
        return list(value)
    return value


# Trainer settings whose change on resume rebuilds the learning-rate schedule for another length (the rate jumps)
SCHEDULE_SETTINGS = ("max_steps", "max_epochs", "accumulate_grad_batches")


def trainer_differences(run_dir: Path | None, configured_trainer, line: CommandLine) -> list[str]:
    """`resume: trainer.max_steps 4 -> 40 (typed): ...` for each length setting that differs from the run's last
    saved config (`config.yaml`, or the newest `config.resumeN.yaml`): the resumed fit takes yours, and builds the
    schedule again for the new length."""
    import yaml

    saved = sorted(run_dir.glob("config*.yaml"), key=lambda path: path.stat().st_mtime) if run_dir else []
    try:
        trainer = (yaml.safe_load(saved[-1].read_text()) or {}).get("trainer") or {} if saved else {}
    except (OSError, yaml.YAMLError, AttributeError):
        return []
    lines = []
    for name in SCHEDULE_SETTINGS:
        old, new = trainer.get(name), plain(configured_trainer.get(name))
        if name in trainer and old != new:
            source = "typed" if line.typed(f"trainer.{name}") else "your config"
            lines.append(f"resume: trainer.{name} {old} -> {new} ({source}): the run continues with {new}, and its "
                         "learning-rate schedule is built again for the new length (the rate jumps where the two "
                         "schedules differ).")
    return lines


def refuse_batch_size_change(path: Path, old, new) -> None:
    """A typed `--data.batch_size` other than the checkpoint's, on a resumed fit: refused. Lightning restores the
    epoch's progress counted in batches of the old size; measured on 2.6 with another size, a resume inside an epoch
    skipped that epoch's validation, and one from the `last.ckpt` written at the end of a max_epochs run read a
    single batch of the next epoch and ended it (tests/lightning_app/test_resume_keeps_batch_size_and_processes.py
    notices when Lightning changes the first)."""
    if old is None or new is None or int(new) == int(old):
        return
    raise ConfigError(f"--data.batch_size {new}: a resumed fit keeps the batch size of --ckpt_path {path.name} "
                      f"({old}), because Lightning counts the epoch's progress in batches; drop --data.batch_size "
                      "(--trainer.accumulate_grad_batches changes the batch of an optimizer step), or start a new fit "
                      "from exported weights (export, then --model.pretrained_model DIR).")


def refuse_other_process_count(state: dict, path: Path, processes: int) -> None:
    """A resumed fit on another number of processes (devices x nodes) than the checkpoint's run: refused, for the
    reason of `refuse_batch_size_change` (each process counts the epoch's progress in its own batches, and the
    position of a length-grouped order is cut for the global batch). Checkpoints from before it was recorded pass."""
    recorded = state.get("toolkit", {}).get("processes")
    if recorded is None or recorded == processes:
        return
    raise ConfigError(f"--ckpt_path {path.name} was trained by {_processes(recorded)} and this fit has "
                      f"{_processes(processes)} (--trainer.devices x --trainer.num_nodes): a resumed fit keeps its "
                      "number of processes, because each counts the epoch's progress in its own batches; resume on "
                      f"{recorded}, or start a new fit from exported weights (export, then --model.pretrained_model "
                      "DIR).")


def _processes(count: int) -> str:
    return f"{count} process" + ("" if count == 1 else "es")
