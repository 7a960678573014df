"""The one line `--ckpt_path last|best` prints: which file was chosen, from which run, and what it scored.

The rule (README "A checkpoint is enough"): `last` and `best` come from the newest run of the config that has a
checkpoint. Scores of different runs are not comparable in general (another validation file, split percentage,
sequence length or model), so `best` never ranks one run's checkpoints against another's. Instead the line says
when an older run of the same config recorded a better score on the same monitored metric, and names its file, so a
short experiment started later cannot silently take the place of the real run.
"""

from __future__ import annotations

import ast
from pathlib import Path

from lightning_app.checkpointing.run_dirs import best_in, newest_record, run_of, versions


def describe_choice(which: str, path: str | Path, state: dict) -> str:
    """`--ckpt_path best: FILE (run RUN, step N; val/loss 6.1234, the best of that run ...)`."""
    path = Path(path)
    run = run_of(path)
    run_text = f"run {run[0] / run[1] / f'version_{run[2]}'}" if run else f"run in {path.parent}"
    parts = [f"step {state.get('global_step', '?')}"]
    monitored = monitored_best(state)
    if monitored is not None:
        monitor, mode, score, _ = monitored
        parts.append(f"{monitor} {score:.4f}, the best of that run" if which == "best"
                     else f"the run's best {monitor} so far {score:.4f}")
        better = _better_older_run(run, monitor, mode, score) if run else None
        if better is not None:
            parts.append(f"an older run scored better, {monitor} {better[0]:.4f} in {better[1]} (pass that path to use "
                         "it)")
    else:
        parts.append("no monitored score recorded when it was saved")
    return f"--ckpt_path {which}: {path} ({run_text}, the newest with a checkpoint; {'; '.join(parts)})"


def monitored_best(state: dict) -> tuple[str, str, float, str] | None:
    """(monitor, mode, best score, best file) recorded by the first monitoring ModelCheckpoint of `state`."""
    for key, value in state.get("callbacks", {}).items():
        if not key.startswith("ModelCheckpoint") or not value.get("monitor"):
            continue
        score = value.get("best_model_score")
        if score is None:
            continue
        return value["monitor"], _mode_in(key), float(score), str(value.get("best_model_path") or "")
    return None


def _mode_in(state_key: str) -> str:
    """"min"/"max" from Lightning's state key `ModelCheckpoint{'monitor': 'val/loss', 'mode': 'min', ...}`."""
    try:
        return ast.literal_eval(state_key[len("ModelCheckpoint"):]).get("mode", "min")
    except (ValueError, SyntaxError):
        return "min"


def _better_older_run(run: tuple[Path, str, int], monitor: str, mode: str, score: float) -> tuple[float, str] | None:
    """(score, file) of the best older run of the same config on `monitor`, when it beats `score`: each run's score
    as its newest checkpoint records it, and only a best file that still exists."""
    best: tuple[float, str] | None = None
    for version in versions(run[0] / run[1]):
        folder = version / "checkpoints"
        if version.name == f"version_{run[2]}" or not (folder / "last.ckpt").is_file():
            continue
        record = newest_record(folder)  # read once: its score and its best file
        found, best_file = monitored_best(record or {}), best_in(folder, record)
        if found is None or best_file is None or found[0] != monitor or found[1] != mode:
            continue
        better = found[2] < (best[0] if best else score) if mode == "min" else found[2] > (best[0] if best else score)
        if better:
            best = (found[2], str(best_file))
    return best
