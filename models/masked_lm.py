"""Masked-language-model training: fine-tuning a pretrained BERT or pre-training one from random weights."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_info
from torchmetrics import MeanMetric

from lightning_app.errors import ConfigError
from models.fast_dropout import use_fast_dropout
from models.mlm_backbone import build_masked_lm, masked_logits
from models.optimization import adamw_with_linear_schedule

EVAL_STAGES = ("val", "test")


class MaskedLanguageModel(L.LightningModule):
    """BERT-style masked-LM with a sparse prediction head, token-weighted validation perplexity and fill-mask.

    Logged: `train/loss`, `train/masked_accuracy`, `train/grad_norm`, `train/lr`; per validation/test epoch
    `{val,test}/loss`, `{val,test}/perplexity` = exp(token-weighted mean CE over every masked token of the split,
    not a mean of per-batch perplexities) and `{val,test}/masked_accuracy`.

    Args:
        pretrained_model: local directory or hub id of a BERT-family model (an encoder without an MLM head gets a
            fresh one); None = the embedded all-MiniLM-L6-v2. Ignored when `model_config` is set.
        model_config: build from random weights instead, e.g. `{model_type: bert, hidden_size: 256,
            num_hidden_layers: 3, num_attention_heads: 4, intermediate_size: 1024, vocab_size: 30522}`.
        learning_rate: peak learning rate of the encoder.
        head_learning_rate: peak learning rate of the MLM head (`cls.*`); None = `learning_rate`.
        weight_decay: AdamW decay on weight matrices (biases and LayerNorm get none).
        warmup_steps: linear warmup in optimizer steps; wins over `warmup_ratio` when > 0.
        warmup_ratio: warmup as a share of all optimizer steps; the rate then decays linearly to 0.
        adam_betas: AdamW betas.
        adam_epsilon: AdamW epsilon.
        sparse_prediction: run the MLM head only on masked positions (same loss, less compute).
        gradient_checkpointing: recompute activations in backward to save memory.
        compile: compile the encoder with `torch.compile` (worth it for long GPU runs; the first steps are slow).
        fill_mask_top_k: how many candidates `predict` prints per [MASK].
        fast_dropout: BERT dropout masks from 16-bit random slices on CPU (`models/fast_dropout.py`).
    """

    def __init__(self, pretrained_model: str | None = None, model_config: dict | None = None,
                 learning_rate: float = 5e-5, head_learning_rate: float | None = None, weight_decay: float = 0.01,
                 warmup_steps: int = 0, warmup_ratio: float = 0.0, adam_betas: tuple[float, float] = (0.9, 0.999),
                 adam_epsilon: float = 1e-8, sparse_prediction: bool = True, gradient_checkpointing: bool = False,
                 compile: bool = False, fill_mask_top_k: int = 5, fast_dropout: bool = True):
        super().__init__()
        self.save_hyperparameters()
        self._build_model()
        self.eval_loss = torch.nn.ModuleDict({stage: MeanMetric() for stage in EVAL_STAGES})
        self.eval_accuracy = torch.nn.ModuleDict({stage: MeanMetric() for stage in EVAL_STAGES})

    def _build_model(self) -> None:
        hp = self.hparams
        self.model = build_masked_lm(hp.pretrained_model if hp.model_config is None else None, hp.model_config)
        self.model.train()  # from_pretrained returns eval mode; Lightning expects modules in train mode for fit
        if hp.fast_dropout:
            use_fast_dropout(self.model)
        if hp.compile:  # in place, so parameter names (and checkpoints) stay those of the plain model
            self.model.base_model.compile()
        if hp.gradient_checkpointing:
            self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})

    def adopt_vocabulary(self, datamodule) -> None:
        """A from-scratch `model_config` without `vocab_size` takes the data's tokenizer size (e.g. a trained
        WordPiece vocabulary), so no config repeats that number; it is then recorded in the hyperparameters, so
        checkpoints rebuild the same network."""
        config = self.hparams.model_config
        tokenizer = getattr(datamodule, "tokenizer", None)
        if config is None or "vocab_size" in config or tokenizer is None:
            return
        self.hparams.model_config = {**config, "vocab_size": len(tokenizer)}
        if self.model.config.vocab_size != len(tokenizer):
            self._build_model()

    # --- checks before any training ---------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None:
            self.check_datamodule(datamodule)

    def check_datamodule(self, datamodule) -> None:
        """Raise a `ConfigError` when the data does not fit this network (sequence length, vocabulary)."""
        self.adopt_vocabulary(datamodule)
        config = self.model.config
        max_len = getattr(datamodule, "max_seq_length", None) or getattr(datamodule, "block_size", None)
        if max_len and max_len > config.max_position_embeddings:
            raise ConfigError(f"--data.max_seq_length={max_len} exceeds the model's {config.max_position_embeddings} "
                              f"position embeddings; pass --data.max_seq_length {config.max_position_embeddings} "
                              "or less.")
        vocab = len(datamodule.tokenizer)
        if vocab > config.vocab_size:
            raise ConfigError(f"the tokenizer has {vocab} tokens but the model's vocabulary has {config.vocab_size}; "
                              "pass --data.tokenizer with the model's own tokenizer (or set model_config.vocab_size).")

    # --- steps ------------------------------------------------------------------------------------------------
    def _masked_loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, int]:
        logits, targets = masked_logits(self.model, batch["input_ids"], batch["attention_mask"], batch["labels"],
                                        self.hparams.sparse_prediction)  # (M, V), (M,)
        loss = F.cross_entropy(logits.float(), targets)
        accuracy = (logits.argmax(-1) == targets).float().mean()
        return loss, accuracy, targets.numel()

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss, accuracy, _ = self._masked_loss(batch)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/masked_accuracy", accuracy)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def _eval_step(self, batch: dict, stage: str) -> None:
        loss, accuracy, count = self._masked_loss(batch)
        self.eval_loss[stage].update(loss, weight=count)  # token-weighted: every masked token counts once
        self.eval_accuracy[stage].update(accuracy, weight=count)

    def on_validation_epoch_end(self) -> None:
        self._log_eval("val")

    def on_test_epoch_end(self) -> None:
        self._log_eval("test")

    def _log_eval(self, stage: str) -> None:
        loss = self.eval_loss[stage].compute()  # already reduced across processes by torchmetrics
        accuracy = self.eval_accuracy[stage].compute()
        self.eval_loss[stage].reset()
        self.eval_accuracy[stage].reset()
        perplexity = torch.exp(loss) if loss < 80 else torch.tensor(math.inf, device=loss.device)
        if self.trainer.sanity_checking:
            when = "before training" if self.global_step == 0 else f"at resume (step {self.global_step})"
            rank_zero_info(f"Validation {when}: loss {loss:.4f}, perplexity {perplexity:.2f}, "
                           f"masked accuracy {accuracy:.4f}")
            return
        # torchmetrics already reduced these over ranks; sync_dist keeps every rank's logged value identical
        self.log_dict({f"{stage}/loss": loss, f"{stage}/perplexity": perplexity,
                       f"{stage}/masked_accuracy": accuracy}, prog_bar=stage == "val", sync_dist=True)
        if stage == "val" and self.trainer.state.fn == "fit":
            rank_zero_info(f"Validation after epoch {self.current_epoch} (step {self.global_step}): loss {loss:.4f}, "
                           f"perplexity {perplexity:.2f}, masked accuracy {accuracy:.4f}")

    def configure_optimizers(self) -> dict:
        hp = self.hparams
        return adamw_with_linear_schedule(self, hp.learning_rate, hp.weight_decay, hp.warmup_steps, hp.warmup_ratio,
                                          tuple(hp.adam_betas), hp.adam_epsilon, head_prefixes=("model.cls.",),
                                          head_learning_rate=hp.head_learning_rate)

    # --- fill-mask and export ---------------------------------------------------------------------------------
    @torch.no_grad()
    def fill_mask(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, tokenizer,
                  top_k: int | None = None) -> list[dict]:
        """Top-k tokens with probabilities for every [MASK] in each (B, T) row."""
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits  # (B, T, V)
        results = []
        for row in range(input_ids.shape[0]):
            ids = input_ids[row][attention_mask[row].bool()]
            candidates = []
            for position in (ids == tokenizer.mask_token_id).nonzero().flatten().tolist():
                probs, tokens = logits[row, position].float().softmax(-1).topk(top_k or self.hparams.fill_mask_top_k)
                candidates.append([(tokenizer.decode([t]), round(p, 4)) for t, p in zip(tokens.tolist(),
                                                                                          probs.tolist())])
            results.append({"text": tokenizer.decode(ids, skip_special_tokens=False), "masks": candidates})
        return results

    def predict_step(self, batch: dict, batch_idx: int) -> list[dict]:
        results = self.fill_mask(batch["input_ids"], batch["attention_mask"], self.trainer.datamodule.tokenizer)
        for result in results:
            for i, candidates in enumerate(result["masks"]):
                shown = ", ".join(f"{token} ({prob:.3f})" for token, prob in candidates)
                rank_zero_info(f"{result['text']}\n  [MASK] #{i + 1}: {shown}")
        return results

    def export_pretrained(self, directory: str | Path, tokenizer) -> Path:
        """Write a Hugging Face directory (model + tokenizer) that `pipeline("fill-mask", model=directory)` loads."""
        directory = Path(directory)
        self.model.save_pretrained(directory)
        tokenizer.save_pretrained(directory)
        return directory
