"""The ModernBERT recipe (configs/mrpc.yaml) as a user with the weights runs it: `--model.pretrained_model DIR`.

ModernBERT-base cannot be downloaded here, so a tiny random ModernBERT and a small tokenizer carrying ModernBERT's
special tokens are saved with `save_pretrained`, as the real directory would be.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from conftest import PROJECT_ROOT
from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
from transformers import ModernBertConfig, ModernBertForMaskedLM, PreTrainedTokenizerFast, pipeline

from lightning_app.cli import cli_main

SPECIAL = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]  # ModernBERT's tokenizer names them so


def _modernbert_dir(tmp_path: Path, sentences: list[str]) -> Path:
    """A byte-level BPE tokenizer with ModernBERT's special tokens and pair template, and a tiny random model."""
    backend = Tokenizer(models.BPE(unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.train_from_iterator(sentences, trainers.BpeTrainer(vocab_size=600, special_tokens=SPECIAL,
                                                               show_progress=False))
    ids = {token: backend.token_to_id(token) for token in SPECIAL}
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", cls_token="[CLS]",
                                        sep_token="[SEP]", pad_token="[PAD]", mask_token="[MASK]",
                                        model_max_length=128)
    config = ModernBertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=64, max_position_embeddings=128, global_attn_every_n_layers=1,
                              pad_token_id=ids["[PAD]"], cls_token_id=ids["[CLS]"], sep_token_id=ids["[SEP]"],
                              bos_token_id=ids["[CLS]"], eos_token_id=ids["[SEP]"])
    directory = tmp_path / "ModernBERT-tiny"
    ModernBertForMaskedLM(config).save_pretrained(directory)  # as published: an MLM checkpoint, no classifier
    tokenizer.save_pretrained(directory)
    return directory


def test_mrpc_recipe_fit_validate_export_pipeline_from_a_directory(tmp_path, shared_data):
    data_dir = tmp_path / "mrpc"
    data_dir.mkdir()
    for name, rows in (("train.tsv", 40), ("dev.tsv", 17)):
        lines = (shared_data / "mrpc" / name).read_text(encoding="utf-8-sig").splitlines()[: rows + 1]
        (data_dir / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    sentences = [s for line in lines[1:] for s in line.split("\t")[3:]]
    directory = _modernbert_dir(tmp_path, sentences)
    args = ["--config", str(PROJECT_ROOT / "configs" / "mrpc.yaml"), "--model.init_args.pretrained_model",
            str(directory), "--data.init_args.data_dir", str(data_dir), "--data.init_args.batch_size", "8",
            "--data.init_args.max_seq_length", "64", "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")]
    fit = cli_main(["fit", *args, "--trainer.max_steps", "3"])
    assert len(fit.datamodule.tokenizer) == fit.model.model.config.vocab_size  # the model's own tokenizer
    last = next((tmp_path / "runs").glob("*/version_0/checkpoints/last.ckpt"))

    validate = cli_main(["validate", "--ckpt_path", str(last)])
    assert math.isfinite(validate.trainer.callback_metrics["val/f1"].item())

    cli_main(["export", "--ckpt_path", str(last), "--output_dir", str(tmp_path / "hf")])
    classify = pipeline("text-classification", model=str(tmp_path / "hf"), device="cpu")
    first, second = "The cat sat on the mat.", "A cat was sitting on the mat."
    result = classify({"text": first, "text_pair": second}, function_to_apply="none", top_k=None)
    exported = torch.tensor([next(r["score"] for r in result if r["label"] == name)
                             for name in ("not_equivalent", "equivalent")])
    with torch.no_grad():
        ours = validate.model.eval().model(**validate.datamodule.tokenizer(first, second, return_tensors="pt")).logits
    torch.testing.assert_close(exported, ours[0], rtol=0, atol=1e-5)
