"""Option names users bring from Hugging Face's example scripts (`run_mlm.py`, `run_glue.py`, `run_clm.py`) and
from LightningCLI habits, mapped to ours. docs/huggingface.md's table is this table; an unknown option error gets the
hint.
"""

from __future__ import annotations

import re

# their option (without dashes) -> (our option, a note when the meaning differs); no option of ours = "" and a note
# that completes "--NAME is not an option; ..." (no final period: the error message adds it)
HF_OPTIONS: dict[str, tuple[str, str]] = {
    "model_name_or_path": ("--model.pretrained_model", "a local directory or hub id; the data takes its tokenizer"),
    "config_name": ("--model.model_config", "a dict of config fields (random weights)"),
    "config_overrides": ("--model.model_config", "a dict of config fields (random weights)"),
    "tokenizer_name": ("--data.tokenizer", ""),
    "train_file": ("--data.train_file", ""),
    "validation_file": ("--data.validation_file", ""),
    "test_file": ("--data.test_file", ""),
    "validation_split_percentage": ("--data.validation_split_percentage", ""),
    "max_seq_length": ("--data.max_seq_length", ""),
    "block_size": ("--data.max_seq_length", "`--data.block_size` is a deprecated alias"),
    "max_length": ("--data.max_seq_length", ""),
    "line_by_line": ("--data.line_by_line", "CustomTextDataModule"),
    "mlm_probability": ("--data.mlm_probability", ""),
    "max_train_samples": ("--data.max_train_samples", ""),
    "max_eval_samples": ("--data.max_eval_samples", ""),
    "max_predict_samples": ("", "no option limits predict's rows: it reads all of --data.predict_file (MRPC), "
                                "--data.predict_sentences (masked LM) or --data.predict_prompts (causal LM)"),
    "per_device_train_batch_size": ("--data.batch_size", ""),
    "per_device_eval_batch_size": ("--data.eval_batch_size", ""),
    "preprocessing_num_workers": ("--data.num_workers", "tokenization runs in the fast tokenizer's own threads and is "
                                                        "cached; num_workers sets DataLoader workers"),
    "dataloader_num_workers": ("--data.num_workers", ""),
    "pad_to_max_length": ("--data.pad_to_multiple_of", "batches are padded to their longest example; set it to the "
                                                       "--data.max_seq_length value to pad every batch to that length"),
    "overwrite_cache": ("--data.cache_dir", "the cache is keyed by file content and options, so it is never stale"),
    "dataset_name": ("--data", "a data module class, e.g. data_modules.WikiText2DataModule"),
    "task_name": ("--config", "configs/mrpc_minilm.yaml or configs/mrpc.yaml"),
    "learning_rate": ("--model.learning_rate", ""),
    "weight_decay": ("--model.weight_decay", ""),
    "adam_beta1": ("--model.adam_betas", "both betas as a list, e.g. [0.9, 0.999]"),
    "adam_beta2": ("--model.adam_betas", "both betas as a list, e.g. [0.9, 0.999]"),
    "adam_epsilon": ("--model.adam_epsilon", ""),
    "lr_scheduler_type": ("--model.lr_scheduler_type", ""),
    "num_warmup_steps": ("--model.warmup_steps", ""),
    "warmup_steps": ("--model.warmup_steps", ""),
    "warmup_ratio": ("--model.warmup_ratio", ""),
    "num_train_epochs": ("--trainer.max_epochs", ""),
    "max_train_steps": ("--trainer.max_steps", ""),
    "max_steps": ("--trainer.max_steps", ""),
    "gradient_accumulation_steps": ("--trainer.accumulate_grad_batches", ""),
    "max_grad_norm": ("--trainer.gradient_clip_val", ""),
    "fp16": ("--trainer.precision", "16-mixed"),
    "bf16": ("--trainer.precision", "bf16-mixed"),
    "seed": ("--seed_everything", "the data's shuffle and mask seed is --data.seed"),
    "output_dir": ("--trainer.default_root_dir", "runs go to <dir>/<name>/version_N"),
    "logging_steps": ("--trainer.log_every_n_steps", ""),
    "eval_steps": ("--trainer.val_check_interval", "counted in micro-batches: with accumulation k, N * k means every "
                                                   "N optimizer steps"),
    "evaluation_strategy": ("--trainer.val_check_interval", "or --trainer.check_val_every_n_epoch"),
    "eval_strategy": ("--trainer.val_check_interval", "or --trainer.check_val_every_n_epoch"),
    "save_steps": ("--trainer.callbacks", "ModelCheckpoint's every_n_train_steps, in the config"),
    "checkpointing_steps": ("--trainer.callbacks", "ModelCheckpoint's every_n_train_steps, in the config"),
    "resume_from_checkpoint": ("--ckpt_path", "a .ckpt file, or last / best"),
    "report_to": ("--trainer.logger", "TensorBoard is the default"),
    "do_train": ("fit", "a subcommand: python main.py fit ..."),
    "do_eval": ("validate", "a subcommand: python main.py validate ..."),
    "do_predict": ("predict", "a subcommand: python main.py predict ..."),
    "optimizer": ("", "the model builds AdamW over its own parameter groups (no decay on biases and norms, the head's "
                      "learning rate) and its schedule: set --model.learning_rate, --model.weight_decay, "
                      "--model.adam_betas, --model.adam_epsilon and --model.lr_scheduler_type"),
    "lr_scheduler": ("--model.lr_scheduler_type", "with --model.warmup_steps or --model.warmup_ratio"),
}

_OPTION = re.compile(r"[-.']([a-z_0-9]+)")


def hint_for(message: str) -> str | None:
    """"did you mean ..." for the first foreign option name found in a parser error message, or None."""
    for name in _OPTION.findall(message):
        if name in HF_OPTIONS:
            ours, note = HF_OPTIONS[name]
            if not ours:  # no equivalent: the note alone, after the parser's "--NAME is not an option; "
                return note
            return f"did you mean {ours}?" + (f" ({note})" if note else "")
    return None
