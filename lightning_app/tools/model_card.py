"""The exported directory's `README.md`: what the model is, what it was trained on, how it scored, how it was made.

Everything comes from the checkpoint (its recorded model and data settings, its ModelCheckpoint state) and, when
the checkpoint still sits in its run, from the run's own records: `evaluations/<checkpoint>.<validate|test>.json`
written by `validate`/`test` of this checkpoint, else the scalars logged during `fit` at the checkpoint's step.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from data_modules.caching import file_fingerprint
from foundation.errors import ConfigError
from foundation.hub import EMBEDDED_MODEL_ID
from lightning_app.checkpointing.checkpoints import class_path_of, init_args_of
from lightning_app.checkpointing.run_dirs import evaluation_dir, run_of
from lightning_app.checkpointing.run_record import fingerprint_now

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PIPELINES = (("ForMaskedLM", "fill-mask"), ("ForSequenceClassification", "text-classification"),
             ("LMHeadModel", "text-generation"), ("ForCausalLM", "text-generation"))
DATA_PATH_SUFFIXES = ("_file", "_files", "data_dir")


def pipeline_task(network) -> str:
    """The `transformers.pipeline` task of an exported network, from its architecture's name."""
    architecture = (network.config.architectures or [type(network).__name__])[0]
    return next((task for suffix, task in PIPELINES if architecture.endswith(suffix)), "feature-extraction")


def model_card(network, state: dict, ckpt_path: Path, command: str) -> str:
    """The Markdown text of the card (module docstring)."""
    task, hparams = pipeline_task(network), init_args_of(state)
    base = hparams.get("pretrained_model") or (None if hparams.get("model_config") else EMBEDDED_MODEL_ID)
    front = ["---", "library_name: transformers", f"pipeline_tag: {task}"]
    if base is not None and is_hub_id(base):
        front.append(f"base_model: {base}")
    architecture = (network.config.architectures or [type(network).__name__])[0]
    lines = [*front, "---", "", f"# {architecture} for `{task}`", "",
             f"Exported by lightning-bert-toolkit from `{ckpt_path.name}` (optimizer step {state.get('global_step')}, "
             f"epoch {state.get('epoch')}) of a `{class_path_of(state)}` run. Load it with "
             f"`transformers.pipeline(\"{task}\", model=\"<this directory>\")`.", "",
             "## Base model", "", _base_model_line(base, hparams.get("model_config")), "",
             "## Data", "", *_data_lines(state), "", "## Metrics", "", *_metric_lines(state, ckpt_path), "",
             "## How it was made", "", f"- export command: `{command}`", f"- commit: {commit()}",
             f"- Lightning {state.get('pytorch-lightning_version', 'unknown')} checkpoint `{ckpt_path.name}`", ""]
    return "\n".join(lines)


def is_local_path(value) -> bool:
    """A string naming a file or directory on this machine (absolute, home-relative or explicitly relative)."""
    return isinstance(value, str) and (os.path.isabs(value) or value.startswith(("~", "./", "../")))


def is_hub_id(name: str) -> bool:
    """`org/name` (or a bare name) that is not a path on this machine."""
    return not is_local_path(name) and not Path(name).exists() and name.count("/") <= 1


def _base_model_line(base: str | None, model_config: dict | None) -> str:
    if base is None:
        shown = ", ".join(f"{k}={v}" for k, v in (model_config or {}).items())
        return f"None: random initialisation from `model_config` ({shown}), trained from scratch."
    if not is_hub_id(base):
        return f"`{Path(base).name}` (a local directory when trained), fine-tuned."
    return f"[`{base}`](https://huggingface.co/{base}), fine-tuned."


def _data_lines(state: dict) -> list[str]:
    """The data module and every file it trained on: as the checkpoint recorded them when it was saved (name, size,
    SHA-256, and whether the file differs now), else every file it was given, hashed as it is at export time."""
    settings = init_args_of(state, "datamodule_hyper_parameters")
    lines = [f"`{class_path_of(state, 'datamodule_hyper_parameters')}`"]
    recorded = state.get("toolkit", {}).get("data_files", {})
    for split, file in recorded.items():
        now = fingerprint_now(file)
        state_now = " (not on this machine at export time)" if now is None else "" if now == file["sha256"] else \
            " (the file has changed since)"
        lines.append(f"- {split}: `{Path(file['path']).name}` ({file['bytes']:,} bytes, sha256 {file['sha256']})"
                     f"{state_now}")
    for name, value in settings.items() if not recorded else ():
        if not name.endswith(DATA_PATH_SUFFIXES) or value in (None, [], ""):
            continue
        for path in map(Path, value if isinstance(value, list | tuple) else [value]):
            lines.append(f"- `{name}`: `{path.name}`{_fingerprint(path)}")
    if len(lines) == 1:
        lines.append("- the data module's built-in sample (no files given)")
    shown = {k: v for k, v in settings.items() if k.startswith(("validation_split", "split_seed", "max_seq_length"))}
    if shown:
        lines.append("- " + ", ".join(f"`{k}`={v}" for k, v in shown.items()))
    return [lines[0] + ":", *lines[1:]]


def _fingerprint(path: Path) -> str:
    if path.is_dir():
        return " (a directory: " + ", ".join(sorted(p.name for p in path.iterdir() if p.is_file())[:6]) + ")"
    if not path.is_file():
        return " (not on this machine at export time)"
    return f" ({path.stat().st_size:,} bytes, sha256 {file_fingerprint(path)})"


def _metric_lines(state: dict, ckpt_path: Path) -> list[str]:
    rows = recorded_metrics(state, ckpt_path)
    if not rows:
        return ["None recorded for this checkpoint: run `python main.py validate --ckpt_path <checkpoint>` before "
                "exporting to add them."]
    table = ["| metric | split | value | where it comes from |", "|---|---|---|---|"]
    return table + [f"| {name} | {split_of(name)} | {value:.4f} | {source} |" for name, value, source in rows]


def split_of(metric: str) -> str:
    """`val/f1` -> validation, `test/perplexity` -> test, `val_wikitext/perplexity` -> validation (wikitext)."""
    prefix = metric.split("/", 1)[0]
    for short, split in (("val", "validation"), ("test", "test"), ("train", "train")):
        if prefix == short:
            return split
        if prefix.startswith(short + "_"):
            return f"{split} ({prefix[len(short) + 1:]})"
    return prefix


def recorded_metrics(state: dict, ckpt_path: Path) -> list[tuple[str, float, str]]:
    """(metric, value, source) for the checkpoint: its evaluation records (those made of a checkpoint at its step:
    `last.ckpt` moves on), else what `fit` logged at its step, else the score its ModelCheckpoint state holds."""
    rows: list[tuple[str, float, str]] = []
    for subcommand in ("validate", "test"):
        record = evaluation_dir(ckpt_path) / f"{ckpt_path.stem}.{subcommand}.json"
        try:
            found = json.loads(record.read_text(encoding="utf-8"))
            metrics = found["metrics"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if found.get("global_step") != state.get("global_step"):
            continue  # an evaluation of an earlier file of that name
        rows += [(name, float(value), f"`{subcommand}` of this checkpoint") for name, value in sorted(metrics.items())]
    if not rows:
        rows = _logged_at_step(ckpt_path, state.get("global_step"))
    if not rows:
        for key, value in state.get("callbacks", {}).items():
            score = value.get("current_score") if key.startswith("ModelCheckpoint") else None
            if value.get("monitor") and score is not None:
                rows.append((value["monitor"], float(score), "the checkpoint's ModelCheckpoint state"))
    return rows


def _logged_at_step(ckpt_path: Path, step: int | None) -> list[tuple[str, float, str]]:
    from lightning_app.tools.report import read_scalars

    run = run_of(ckpt_path)
    if run is None or step is None:
        return []
    try:
        scalars = read_scalars(run[0] / run[1] / f"version_{run[2]}")
    except ConfigError:
        return []
    rows = []
    for tag, points in sorted(scalars.items()):
        at_step = [value for logged_step, value in points if logged_step == step]
        if at_step and split_of(tag).startswith(("validation", "test")):
            rows.append((tag, at_step[-1], f"logged during `fit` at step {step}"))
    return rows


def commit() -> str:
    """The project's git commit (with a note when the work tree has changes), or "unknown" outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        changes = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                                 capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"`{head}`" + (" (with uncommitted changes)" if changes else "") if head else "unknown"
