"""The resolved config of every fit, saved in its run directory (a resume adds a file, never overwrites)."""

from __future__ import annotations

from itertools import count
from pathlib import Path

import lightning as L
from lightning.pytorch.cli import SaveConfigCallback

from foundation.errors import ConfigError
from lightning_app.checkpointing.run_dirs import release_unused_claims


class SaveRunConfig(SaveConfigCallback):
    """Saves the resolved config into the run directory on `fit`; a resume of that run adds `config.resume1.yaml`,
    ... instead of overwriting the original. A fresh run whose directory already holds another run's `config.yaml`
    stops: the two runs would mix their checkpoints and logs. Evaluations write their own record
    (`EvaluationRecord`)."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        log_dir = trainer.log_dir  # a collective call under DDP: every rank must make it
        if not self.already_saved and self.save_to_log_dir and log_dir and "://" not in log_dir:
            claimed = self._claim_file(Path(log_dir)) if trainer.is_global_zero else None
            claimed = trainer.strategy.broadcast(claimed)  # every rank stops, or none
            if isinstance(claimed, ConfigError):
                raise claimed
            self.config_filename = claimed or self.config_filename
            self.overwrite = True  # the file claimed above is ours (empty until the parser writes it)
        super().setup(trainer, pl_module, stage)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        release_unused_claims(trainer.loggers)  # a run that stops before writing leaves no empty version_N

    def _claim_file(self, log_dir: Path) -> str | ConfigError:
        """The name of the config file this run writes, created empty with an exclusive create so that two runs in
        one directory cannot both take it."""
        log_dir.mkdir(parents=True, exist_ok=True)
        ckpt = self.config.get("ckpt_path")
        resumes_this_run = ckpt is not None and log_dir.resolve() in Path(ckpt).resolve().parents
        if _created(log_dir / self.config_filename):
            return self.config_filename
        if not resumes_this_run:
            return ConfigError(f"{log_dir} already holds another run's {self.config_filename}; a new fit must not "
                               "write into it: pass a new --trainer.default_root_dir (or drop "
                               "--trainer.logger.init_args.version), or resume that run with --ckpt_path.")
        return next(name for name in (f"config.resume{n}.yaml" for n in count(1)) if _created(log_dir / name))


def _created(path: Path) -> bool:
    """Whether `path` was created empty now (False: it existed; exclusive create, so one of two racers wins)."""
    try:
        path.open("x").close()
        return True
    except FileExistsError:
        return False
