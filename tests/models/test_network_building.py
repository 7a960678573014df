"""`models.building.build_network` from a `model_config` dict: every field is one the config class has (a misspelt
field would otherwise be ignored and the rest built at BERT-base defaults), values typed as dotted options are
numbers, and transformers' own refusals come back as one sentence."""

from __future__ import annotations

import pytest
from transformers import AutoModelForMaskedLM

from foundation.errors import ConfigError
from models.building import build_network


def test_a_misspelt_field_is_refused_with_the_field_it_resembles(tiny_bert):
    with pytest.raises(ConfigError, match=r"--model.model_config.hiden_size is not a field of BertConfig; check the "
                                          r"spelling: did you mean hidden_size\?"):
        build_network(AutoModelForMaskedLM, None, {**tiny_bert, "hiden_size": 32})


def test_fields_typed_as_dotted_options_arrive_as_numbers(tiny_bert):
    typed = {**tiny_bert, "hidden_size": "48", "hidden_dropout_prob": "0.0", "tie_word_embeddings": "true"}
    network, _, _ = build_network(AutoModelForMaskedLM, None, typed)
    assert network.config.hidden_size == 48 and network.config.hidden_dropout_prob == 0.0


def test_transformers_refusal_is_one_sentence_naming_the_option(tiny_bert):
    with pytest.raises(ConfigError, match=r"--model.model_config: The hidden size \(50\) is not a multiple"):
        build_network(AutoModelForMaskedLM, None, {**tiny_bert, "hidden_size": 50, "num_attention_heads": 3})
    with pytest.raises(ConfigError, match="model_type='bertt' is not a model type transformers knows"):
        build_network(AutoModelForMaskedLM, None, {**tiny_bert, "model_type": "bertt"})
