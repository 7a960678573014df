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
