"""FSDP configured by name from YAML: shard each transformer layer as one unit."""

from __future__ import annotations

import importlib

from lightning.pytorch.strategies import FSDPStrategy

from foundation.errors import ConfigError

# Encoder-layer classes of the model families this project trains; each becomes one FSDP unit.
DEFAULT_LAYER_CLASSES = (
    "transformers.models.bert.modeling_bert.BertLayer",
    "transformers.models.roberta.modeling_roberta.RobertaLayer",
    "transformers.models.modernbert.modeling_modernbert.ModernBertEncoderLayer",
)


def import_class(dotted: str) -> type:
    module_name, _, class_name = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"--trainer.strategy.init_args.layer_classes: cannot import {dotted!r}; pass the dotted "
                          "path of the model's transformer-layer class.") from error


class TransformerFSDPStrategy(FSDPStrategy):
    """Lightning's FSDP with transformer-layer auto-wrap, configurable with class names instead of Python objects.

    Args:
        layer_classes: dotted paths of the layer classes to wrap (and optionally checkpoint) one by one.
        sharding_strategy: FULL_SHARD (ZeRO-3), SHARD_GRAD_OP (ZeRO-2), NO_SHARD or HYBRID_SHARD (multi-node).
        state_dict_type: "full" writes one ordinary checkpoint, loadable on any number of devices; "sharded"
            writes one file per rank (faster for very large models).
        activation_checkpointing: recompute each wrapped layer's activations in backward to save memory.
        cpu_offload: keep parameters on the CPU between uses (slow; for models that do not fit otherwise).
    """

    def __init__(self, layer_classes: list[str] | None = None, sharding_strategy: str = "FULL_SHARD",
                 state_dict_type: str = "full", activation_checkpointing: bool = False, cpu_offload: bool = False):
        classes = {import_class(name) for name in (layer_classes or DEFAULT_LAYER_CLASSES)}
        super().__init__(auto_wrap_policy=classes, sharding_strategy=sharding_strategy,
                         state_dict_type=state_dict_type, cpu_offload=cpu_offload,
                         activation_checkpointing_policy=classes if activation_checkpointing else None)
