"""configs/mini_bert.yaml has the reference mini-BERT's shape and exactly its 4,498,880 parameters."""


import yaml
from conftest import PROJECT_ROOT

from models import MaskedLanguageModel


def test_mini_bert_config_has_the_reference_shape_and_parameter_count():
    config = yaml.safe_load((PROJECT_ROOT / "configs" / "mini_bert.yaml").read_text())
    model_config = config["model"]["init_args"]["model_config"]
    data = config["data"]["init_args"]
    assert "vocab_size" not in model_config and data["train_tokenizer"] is True  # the model adopts the data's size
    model = MaskedLanguageModel(model_config={**model_config, "vocab_size": data["vocab_size"]},
                                fast_dropout=config["model"]["init_args"]["fast_dropout"])
    shape = model.model.config
    assert (shape.num_hidden_layers, shape.hidden_size, shape.num_attention_heads, shape.intermediate_size) == (
        3, 192, 4, 768)
    assert model.model.get_output_embeddings().weight is not model.model.get_input_embeddings().weight  # untied
    # transformers keeps a second output bias once untied; the count below depends on that (configs/mini_bert.yaml)
    assert sum(p.numel() for p in model.parameters()) == 4_498_880
