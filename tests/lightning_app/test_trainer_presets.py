"""configs/trainer/*.yaml stack onto task configs; the FSDP preset resolves its layer classes."""


import pytest
import yaml
from conftest import PROJECT_ROOT
from lightning.pytorch.strategies import DDPStrategy

from foundation.errors import ConfigError
from lightning_app.checkpointing.strategies import TransformerFSDPStrategy
from lightning_app.cli import cli_main

CONFIGS = PROJECT_ROOT / "configs"


def test_cpu_preset_stacks_onto_a_task_config():
    cli = cli_main(["--config", str(CONFIGS / "custom_mlm.yaml"), "--config", str(CONFIGS / "trainer" / "cpu.yaml")],
                   run=False)
    assert cli.trainer.precision == "32-true" and cli.trainer.accumulate_grad_batches == 2


def test_ddp_preset_turns_off_unused_parameter_search():
    strategy = yaml.safe_load((CONFIGS / "trainer" / "ddp.yaml").read_text())["trainer"]["strategy"]
    instance = DDPStrategy(**strategy["init_args"])
    assert instance._ddp_kwargs["find_unused_parameters"] is False


def test_fsdp_preset_wraps_transformer_layers():
    from transformers.models.bert.modeling_bert import BertLayer

    init_args = yaml.safe_load((CONFIGS / "trainer" / "fsdp.yaml").read_text())["trainer"]["strategy"]["init_args"]
    strategy = TransformerFSDPStrategy(**init_args)
    assert BertLayer in strategy.kwargs["auto_wrap_policy"]._module_classes


def test_fsdp_unknown_layer_class_is_a_clear_error():
    with pytest.raises(ConfigError, match="cannot import 'transformers.NoSuchLayer'"):
        TransformerFSDPStrategy(layer_classes=["transformers.NoSuchLayer"])
