"""Helpers for tests that drive the real CLI: tiny configs written to disk, and a callback that kills a run."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import lightning as L
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def write_tiny_mlm_config(tmp_path: Path, save_dir: Path, tiny_bert: dict, small_text: Path, extra_callbacks=(),
                          **trainer_overrides) -> Path:
    """configs/custom_mlm.yaml shrunk to a tiny model on `small_text`; last.ckpt every 2 optimizer steps."""
    config = yaml.safe_load((PROJECT_ROOT / "configs" / "custom_mlm.yaml").read_text())
    trainer = config["trainer"]
    trainer.update({"max_steps": 11, "max_epochs": 100, "num_sanity_val_steps": 0, "log_every_n_steps": 1,
                    "enable_progress_bar": False, **trainer_overrides})
    trainer["logger"]["init_args"]["save_dir"] = str(save_dir)
    trainer["callbacks"] = [c for c in trainer["callbacks"] if "FillMask" not in c["class_path"]]
    trainer["callbacks"][1]["init_args"]["every_n_train_steps"] = 2
    trainer["callbacks"].extend(extra_callbacks)
    config["model"]["init_args"].update(model_config=tiny_bert, learning_rate=1e-3)
    config["data"]["init_args"].update(train_file=str(small_text), batch_size=4)
    path = tmp_path / f"{save_dir.name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class KillAtStep(L.Callback):
    """Sends SIGKILL to its own process after the first micro-batch of optimizer step `step` (no clean-up runs)."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)

