"""Why `BertCLI._parse_ckpt_path` is switched off: upstream LightningCLI merges a checkpoint's hyperparameters over
the options the user typed (Lightning issues #20801, #20310). When this test fails, Lightning ranks typed options
above the checkpoint itself and BertCLI could use its merge."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.cli import LightningCLI

import models  # noqa: F401  (the class the checkpoint names)


class _Parsed(Exception):
    pass


class _StopAfterParsing(LightningCLI):
    def before_instantiate_classes(self) -> None:
        raise _Parsed(self.config)


def test_upstream_checkpoint_hyperparameters_override_a_typed_option(tmp_path):
    ckpt = tmp_path / "run.ckpt"
    torch.save({"hyper_parameters": {"_class_path": "models.MaskedLanguageModel", "learning_rate": 0.1}}, ckpt)
    with pytest.raises(_Parsed) as parsed:
        _StopAfterParsing(model_class=L.LightningModule, subclass_mode_model=True,
                          args=["fit", "--model", "models.MaskedLanguageModel", "--model.learning_rate", "0.5",
                                "--ckpt_path", str(ckpt)])
    config = parsed.value.args[0]
    assert config.fit.model.init_args.learning_rate == 0.1  # the typed 0.5 is lost upstream
