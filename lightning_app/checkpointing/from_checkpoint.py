"""A checkpoint's recorded settings become the config: `validate --ckpt_path X` needs nothing else.

Precedence, lowest first: `--config` files < the checkpoint's model and data settings < options typed on the
command line. Where a config file's data setting differs from the run's and the user did not type it, the run's
setting is used and one warning line names each difference, so a run is never scored on the demo data by accident.
A resumed `fit` gets one line per differing model, optimizer or data setting instead (`resume_differences`).
"""

from __future__ import annotations

import json
from pathlib import Path

from foundation.errors import ConfigError
from lightning_app.checkpointing.checkpoints import class_path_of, init_args_of, refuse_foreign_checkpoint
from lightning_app.checkpointing.rebuild import TRUSTED_PACKAGES
from lightning_app.checkpointing.resume_differences import (
    changed_settings,
    refuse_batch_size_change,
    resume_differences,
    trainer_differences,
)
from lightning_app.checkpointing.run_dirs import find_checkpoint, fixed_dirpaths, run_of, versions
from lightning_app.checkpointing.run_record import changed_data_files, recorded_tokenizer_dir
from lightning_app.parsing.command_line import CommandLine

TOKENIZER_OPTIONS = ("tokenizer", "train_tokenizer")


def resolve_ckpt_path(value: str, configured) -> Path:
    """`last`/`best` of the newest run wherever this config's runs were written (`checkpoint_places`), or the path
    given. Of several places, the one whose newest `last.ckpt` was written last holds "the run"."""
    if value not in ("last", "best"):
        return Path(value)
    if configured is None:
        raise ConfigError(f"--ckpt_path {value} needs --config to know where the runs are; pass the path of a .ckpt "
                          "file instead.")
    places = checkpoint_places(configured.trainer)
    found = [(last.stat().st_mtime, place) for place in places if (last := _newest_last(*place)) is not None]
    if not found and len(places) > 1:
        where = " or ".join(str(root if flat else root / "version_*" / "checkpoints") for root, flat in places)
        raise ConfigError(f"--ckpt_path {value}: no checkpoint found under {where}; train first with `fit`, or pass "
                          "the path of a .ckpt file.")
    root, flat = max(found, key=lambda item: item[0])[1] if found else places[0]
    return find_checkpoint(root, value, flat)


def newest_run_unsaved(configured) -> Path | None:
    """The newest `version_N` of the config's run folders (by last change, whichever folder) when it holds no
    `last.ckpt`: it stopped before its first save (a job preempted while tokenizing, then requeued with
    `--ckpt_path last`). `fit --ckpt_path last` then starts that run again from the beginning: taking an older run's
    `last.ckpt` instead would silently continue a finished experiment with this config's settings."""
    places = checkpoint_places(configured.trainer)
    newest = [found[-1] for root, flat in places if not flat and (found := versions(root))]
    if not newest:
        return None
    run = max(newest, key=lambda version: version.stat().st_mtime)
    return None if (run / "checkpoints" / "last.ckpt").is_file() else run


def checkpoint_places(trainer) -> list[tuple[Path, bool]]:
    """(folder, flat) pairs where a `fit` of this trainer config writes checkpoints; flat = the folder holds the
    .ckpt files itself, else its `version_*/checkpoints/` do. As `BertCLI._place_logs` and Lightning place them: a
    ModelCheckpoint `dirpath`; the logger's `<save_dir>/<name>`, where a typed `--trainer.default_root_dir` replaces
    `save_dir`; without a logger Lightning's `<default_root_dir>/checkpoints`; Lightning's default logger otherwise."""
    places = [(dirpath, True) for dirpath in fixed_dirpaths(trainer)]
    root, logger = trainer.get("default_root_dir"), trainer.get("logger")
    init = getattr(logger, "init_args", None)
    if init is not None and init.get("save_dir"):
        name = init.get("name") or "lightning_logs"
        places += [(Path(root) / name, False)] if root else []
        places.append((Path(init.save_dir) / name, False))
    elif logger is False:
        places.append((Path(root or ".") / "checkpoints", True))
    else:
        places.append((Path(root or ".") / "lightning_logs", False))
    return list(dict.fromkeys(places))


def _newest_last(root: Path, flat: bool) -> Path | None:
    folders = [root] if flat else [version / "checkpoints" for version in reversed(versions(root))]
    return next((folder / "last.ckpt" for folder in folders if (folder / "last.ckpt").is_file()), None)


def checkpoint_settings(state: dict, path: Path, configured, line: CommandLine) -> tuple[list[str], list[str]]:
    """(`--model`/`--data` arguments carrying the checkpoint's settings, the differences worth a warning line each)."""
    model_class = class_path_of(state)
    data_class = class_path_of(state, "datamodule_hyper_parameters")
    _check_recorded_classes(state, path, configured, model_class, data_class)
    model_args = init_args_of(state)
    args = ["--model", json.dumps({"class_path": model_class, "init_args": model_args})]
    resuming = configured is not None and line.subcommand == "fit"
    differences = resume_differences("model", model_args, configured.model.get("init_args") or {}, line) \
        if resuming else []
    differences += changed_data_files(state) if line.subcommand == "fit" else []
    if resuming:
        run = run_of(path)
        differences += trainer_differences(run[0] / run[1] / f"version_{run[2]}" if run else None, configured.trainer,
                                           line)
    if data_class is not None:
        data_args = init_args_of(state, "datamodule_hyper_parameters")
        tokenizer_dir = recorded_tokenizer_dir(state)
        if resuming and line.typed("data.batch_size"):
            typed = (configured.data.get("init_args") or {}).get("batch_size")
            refuse_batch_size_change(path, data_args.get("batch_size"), typed)
        if configured is not None:  # the run's recorded tokenizer files are used whatever the config names
            compared = {k: v for k, v in data_args.items() if not (tokenizer_dir and k in TOKENIZER_OPTIONS)}
            differences += _data_differences(configured.data, data_class, compared, line, path, resuming)
        if tokenizer_dir is not None and line.typed("data.tokenizer"):
            differences += _other_tokenizer(tokenizer_dir, line.values["data.tokenizer"], line.subcommand)
        if tokenizer_dir is not None and not line.typed("data.tokenizer"):
            data_args["tokenizer"] = str(tokenizer_dir)  # exactly the tokenizer the run used, trained or loaded
            if data_args.get("train_tokenizer"):
                data_args["train_tokenizer"] = False
        args += ["--data", json.dumps({"class_path": data_class, "init_args": data_args})]
    elif configured is None:
        raise ConfigError(f"--ckpt_path {path} records no data module; pass --config (or --data) with the data to "
                          "score.")
    return args, differences


def _other_tokenizer(recorded_dir: Path, typed: str, subcommand: str | None) -> list[str]:
    """One line when the typed `--data.tokenizer` splits text otherwise than the tokenizer the checkpoint trained
    with (its ids would mean other tokens to the weights); nothing when they are the same or it cannot be read here
    (loading it later says why)."""
    from data_modules.caching import tokenizer_fingerprint
    from data_modules.tokenizer_loading import load_tokenizer

    try:
        recorded, given = load_tokenizer(str(recorded_dir)), load_tokenizer(typed)
    except ConfigError:
        return []
    if tokenizer_fingerprint(recorded) == tokenizer_fingerprint(given):
        return []
    what = "the run continues on its ids" if subcommand == "fit" else "its metrics and predictions mean nothing"
    return [f"--data.tokenizer {typed} is not the tokenizer the checkpoint was trained with ({len(given):,} vs "
            f"{len(recorded):,} tokens, or other splits): {what} unless both encode text alike; drop "
            "--data.tokenizer to use the checkpoint's own."]


def _check_recorded_classes(state: dict, path: Path, configured, model_class: str | None, data_class: str | None):
    if model_class is None:
        raise ConfigError(f"--ckpt_path {path} was not written by this project's CLI (no model class recorded); "
                          "pass a checkpoint from a `python main.py fit` run.")
    if configured is not None:
        refuse_foreign_checkpoint(state, path, configured.model.class_path)
    config_classes = {getattr(configured, section).class_path for section in ("model", "data")} if configured else set()
    for recorded in (model_class, data_class):
        if recorded is not None and recorded not in config_classes and recorded.split(".")[0] not in TRUSTED_PACKAGES:
            raise ConfigError(f"--ckpt_path {path} names the class {recorded!r}, which is not one of this project's "
                              "(models.*, data_modules.*); pass --config with the config that trained it.")


def _data_differences(configured_data, data_class: str, recorded: dict, line: CommandLine, path: Path,
                      resuming: bool) -> list[str]:
    """A resumed fit: one line per differing data setting (`resume_differences`). An evaluation: one line naming
    each data setting where the config file differs from the run (the run's is used; typed options win silently)."""
    if configured_data.class_path.rsplit(".", 1)[-1] != data_class.rsplit(".", 1)[-1]:
        if line.typed("data"):
            return []
        found = [f"data class {data_class} (config: {configured_data.class_path})"]
    elif resuming:
        return resume_differences("data", recorded, configured_data.get("init_args") or {}, line)
    elif line.typed("data"):
        return []
    else:
        found = [f"{name}={old} (config: {new})" for name, old, new in
                 changed_settings(recorded, configured_data.get("init_args") or {}) if not line.typed(f"data.{name}")]
    if not found:
        return []
    return [f"--ckpt_path {path.name} was trained with other data settings than the config; using the run's "
            f"{', '.join(found)} (type an option to override it)"]
