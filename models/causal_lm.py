"""A small causal (left-to-right) language model trained with next-token CE plus an auxiliary BCE term.

Leak-free by construction: the network is a `BertLMHeadModel` with `is_decoder=True`, so every attention layer
applies a causal mask and position t sees tokens <= t only (tests/test_causal_lm.py changes future tokens and checks
that earlier logits stay bit-identical). The bug this guards against: a BERT without `is_decoder=True` attends to
the future, and "next-token prediction" then copies the answer (a reported validation perplexity of 1.06).

Loss = CE(next token) + w(step) * BCE, with BCE and w defined in `models/bce_term.py`. Validation reports CE-only
figures: `val/loss` (token-weighted mean CE), `val/perplexity` = exp(val/loss), never mixed with BCE; and
`val/total_loss` = CE + w * BCE at the current weight, for comparison with training.
"""

from __future__ import annotations

import math

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info
from torchmetrics import MeanMetric

from lightning_app.errors import ConfigError
from lightning_app.pretrained import resolve_pretrained
from models.bce_term import bce_weight_at
from models.fused_lm_loss import next_token_head_losses, use_sparse_embedding_gradient
from models.optimization import adamw_with_linear_schedule

# prajjwal1/bert-tiny's shape (Turc et al. 2019): 2 layers, hidden 128, 2 heads, FFN 512
BERT_TINY = {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 512,
             "max_position_embeddings": 512}


def build_decoder(pretrained_model: str | None, model_config: dict | None, vocab_size: int | None):
    """A `BertLMHeadModel` with `is_decoder=True` enforced, from a local directory or a config (bert-tiny shape)."""
    from transformers import BertConfig, BertLMHeadModel

    if pretrained_model is not None:
        directory = resolve_pretrained(pretrained_model, "--model.pretrained_model")
        config = BertConfig.from_pretrained(str(directory), is_decoder=True)
        return BertLMHeadModel.from_pretrained(str(directory), config=config)
    settings = {**BERT_TINY, **(model_config or {})}
    if vocab_size is not None:
        settings.setdefault("vocab_size", vocab_size)
    if "vocab_size" not in settings:
        raise ConfigError("--model.model_config needs a vocab_size (or a data module with a tokenizer).")
    settings["is_decoder"] = True  # the causal mask: never optional here
    return BertLMHeadModel(BertConfig(**settings))


class CausalLanguageModel(L.LightningModule):
    """Next-token LM with an auxiliary one-vs-rest BCE term (see the module docstring and `models/bce_term.py`).

    Args:
        pretrained_model: a local directory with bert-tiny-style weights (loaded with `is_decoder=True`); None =
            random weights from `model_config`.
        model_config: `BertConfig` fields overriding the bert-tiny shape; `vocab_size` defaults to the tokenizer's.
        learning_rate: peak AdamW learning rate.
        weight_decay: AdamW decay on weight matrices.
        warmup_steps: linear warmup steps, then linear decay to 0 at the last step.
        bce_enabled: add the BCE term to the training loss (False: plain CE, and the logs say so).
        bce_start: w after warmup at step 0 of the boost.
        bce_max: w reached at `bce_boost_span` steps.
        bce_warmup_steps: steps over which w fades in from 0.
        bce_boost_span: steps over which w grows from `bce_start` to `bce_max`.
        max_new_tokens: tokens `predict` generates per prompt.
        top_k: 0 = greedy decoding; k > 0 samples from the k most likely tokens.
        temperature: softmax temperature for top-k sampling.
    """

    def __init__(self, pretrained_model: str | None = None, model_config: dict | None = None,
                 learning_rate: float = 2e-3, weight_decay: float = 0.01, warmup_steps: int = 400,
                 bce_enabled: bool = True, bce_start: float = 0.2, bce_max: float = 0.5, bce_warmup_steps: int = 400,
                 bce_boost_span: int = 2000, max_new_tokens: int = 40, top_k: int = 0, temperature: float = 1.0):
        super().__init__()
        self.save_hyperparameters()
        self.model = None if pretrained_model is None and "vocab_size" not in (model_config or {}) else \
            build_decoder(pretrained_model, model_config, None)
        self.eval_metrics = torch.nn.ModuleDict()

    def check_datamodule(self, datamodule) -> None:
        self.configure_model_for(datamodule)
        positions = self.model.config.max_position_embeddings
        if datamodule.block_size > positions:
            raise ConfigError(f"--data.block_size={datamodule.block_size} exceeds the model's {positions} positions; "
                              f"pass --data.block_size {positions} or less.")
        if len(datamodule.tokenizer) > self.model.config.vocab_size:
            raise ConfigError(f"the tokenizer has {len(datamodule.tokenizer)} tokens but the model only "
                              f"{self.model.config.vocab_size}; pass --data.tokenizer with the model's tokenizer.")

    def configure_model_for(self, datamodule) -> None:
        """Build from config once the tokenizer is known (its size is the vocabulary), unless built already; the
        size is then recorded in the hyperparameters, so checkpoints rebuild the same network."""
        if self.model is None:
            self.model = build_decoder(None, self.hparams.model_config, len(datamodule.tokenizer))
            self.hparams.model_config = {**(self.hparams.model_config or {}), "vocab_size": len(datamodule.tokenizer)}

    def setup(self, stage: str) -> None:
        self.configure_model_for(self.trainer.datamodule)
        use_sparse_embedding_gradient(self.model)  # tied word embedding: no second dense (V, H) gradient
        names = getattr(self.trainer.datamodule, "eval_set_names", ["val"])
        for name in names:
            if name not in self.eval_metrics:
                self.eval_metrics[name] = torch.nn.ModuleDict({"ce": MeanMetric(), "bce": MeanMetric()})

    def on_fit_start(self) -> None:
        if not self.hparams.bce_enabled:
            rank_zero_info("BCE term disabled (bce_enabled: false): training on next-token cross-entropy only.")

    # --- losses -------------------------------------------------------------------------------------------------
    def next_token_logits(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """((N, V) logits, (N,) targets) for every position that has a next token inside the sequence."""
        logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits  # (B,T,V)
        targets = batch["input_ids"][:, 1:].masked_fill(batch["attention_mask"][:, 1:] == 0, -100)  # (B, T-1)
        return logits[:, :-1].reshape(-1, logits.shape[-1]), targets.reshape(-1)

    def bce_weight(self) -> float:
        hp = self.hparams
        if not hp.bce_enabled:
            return 0.0
        return bce_weight_at(self.global_step, hp.bce_start, hp.bce_max, hp.bce_warmup_steps, hp.bce_boost_span)

    def losses(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(CE, BCE, number of predicted tokens); BCE is 0 (and not computed) when the term is disabled."""
        return next_token_head_losses(self.model, batch["input_ids"], batch["attention_mask"],
                                      with_bce=self.hparams.bce_enabled)  # fused head + losses, chunked

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        ce, bce, _ = self.losses(batch)
        weight = self.bce_weight()
        loss = ce + weight * bce
        self.log_dict({"train/loss": loss, "train/ce": ce, "train/bce": bce, "train/bce_weight": weight},
                      prog_bar=False)
        return loss

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        names = getattr(self.trainer.datamodule, "eval_set_names", ["val"])
        metrics = self.eval_metrics[names[dataloader_idx]]
        # BCE is reported even when not trained on
        ce, bce, count = next_token_head_losses(self.model, batch["input_ids"], batch["attention_mask"])
        metrics["ce"].update(ce, weight=count)  # token-weighted
        metrics["bce"].update(bce, weight=count)

    def on_validation_epoch_end(self) -> None:
        weight = self.bce_weight()
        for name, metrics in self.eval_metrics.items():
            if metrics["ce"].update_count == 0:
                continue
            ce, bce = metrics["ce"].compute(), metrics["bce"].compute()
            metrics["ce"].reset()
            metrics["bce"].reset()
            perplexity = torch.exp(ce) if ce < 80 else torch.tensor(math.inf)
            self.log_dict({f"{name}/loss": ce, f"{name}/perplexity": perplexity, f"{name}/bce": bce,
                           f"{name}/total_loss": ce + weight * bce}, sync_dist=True, prog_bar=name == "val",
                          add_dataloader_idx=False)
            if self.trainer.state.fn == "fit" and not self.trainer.sanity_checking:
                rank_zero_info(f"{name} at step {self.global_step}: CE {ce:.4f}, perplexity {perplexity:.2f} "
                               f"(CE only), BCE {bce:.5f}")

    def configure_optimizers(self) -> dict:
        hp = self.hparams
        return adamw_with_linear_schedule(self, hp.learning_rate, hp.weight_decay, hp.warmup_steps, 0.0,
                                          (0.9, 0.999), 1e-8)

    # --- generation -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, prompt_ids: torch.Tensor, end_token_id: int | None = None) -> torch.Tensor:
        """Continue (1, T) prompt ids greedily (top_k 0) or by top-k sampling, up to the context length."""
        ids = prompt_ids
        limit = self.model.config.max_position_embeddings
        for _ in range(self.hparams.max_new_tokens):
            logits = self.model(input_ids=ids[:, -limit:]).logits[:, -1].float()  # (1, V)
            if self.hparams.top_k > 0:
                values, candidates = (logits / self.hparams.temperature).topk(self.hparams.top_k)
                next_id = candidates.gather(1, torch.multinomial(values.softmax(-1), 1))
            else:
                next_id = logits.argmax(-1, keepdim=True)
            ids = torch.cat([ids, next_id], dim=1)
            if end_token_id is not None and next_id.item() == end_token_id:
                break
        return ids

    def predict_step(self, batch: dict, batch_idx: int) -> str:
        datamodule = self.trainer.datamodule
        prompt = batch["input_ids"]  # (1, T)
        output = self.generate(prompt, datamodule.end_token_id)
        text = datamodule.tokenizer.decode(output[0, prompt.shape[1]:], skip_special_tokens=True)
        rank_zero_info(f"{datamodule.predict_prompts[batch_idx]!r} -> {text!r}")
        return text
