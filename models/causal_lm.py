"""A small causal (left-to-right) language model trained with next-token CE plus an auxiliary BCE term.

Leak-free by construction: the network is a `BertLMHeadModel` with `is_decoder=True`, so every attention layer
applies a causal mask and position t sees tokens <= t only (tests/models/test_causal_lm.py changes future tokens and
checks
that earlier logits stay bit-identical). The bug this guards against: a BERT without `is_decoder=True` attends to
the future, and "next-token prediction" then copies the answer (a reported validation perplexity of 1.06).

Loss = CE(next token) + w(step) * BCE, with BCE and w defined in `models/bce_term.py`. Validation reports CE-only
figures: `val/loss` (token-weighted mean CE), `val/perplexity` = exp(val/loss), never mixed with BCE; and
`val/total_loss` = CE + w * BCE at the current weight, for comparison with training.
"""

from __future__ import annotations

import copy

import torch
from lightning.pytorch.utilities import rank_zero_info
from torchmetrics import MeanMetric

from foundation.contract import DataFacts
from foundation.errors import ConfigError
from models.bce_term import BceSchedule, scheduled_bce_weight
from models.building import build_network
from models.causal_head import next_token_head_losses
from models.task_module import TaskModule, perplexity

# prajjwal1/bert-tiny's shape (Turc et al. 2019): 2 layers, hidden 128, 2 heads, FFN 512
BERT_TINY = {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 512,
             "max_position_embeddings": 512}


def build_decoder(pretrained_model: str | None, model_config: dict | None, vocab_size: int | None):
    """A `BertLMHeadModel` with `is_decoder=True` enforced, from a local directory or a config (bert-tiny shape)."""
    from transformers import BertLMHeadModel

    if pretrained_model is not None:
        return build_network(BertLMHeadModel, pretrained_model, model_config, is_decoder=True)[0]
    settings = {"model_type": "bert", **BERT_TINY, **(model_config or {})}
    if vocab_size is not None:
        settings.setdefault("vocab_size", vocab_size)
    if "vocab_size" not in settings:
        raise ConfigError("--model.model_config needs a vocab_size (or a data module with a tokenizer).")
    return build_network(BertLMHeadModel, None, settings, is_decoder=True)[0]  # the causal mask: never optional


class CausalLanguageModel(TaskModule):
    """Next-token LM with an auxiliary one-vs-rest BCE term (see the module docstring and `models/bce_term.py`).

    Args:
        pretrained_model: a local directory with bert-tiny-style weights (loaded with `is_decoder=True`); None =
            random weights from `model_config`.
        model_config: `BertConfig` fields overriding the bert-tiny shape; `vocab_size` defaults to the tokenizer's.
        learning_rate: peak AdamW learning rate (from random weights at batch 1 the network needs large steps).
        warmup_steps: linear warmup steps, then the schedule (linear decay to 0 at the last step).
        bce_enabled: add the BCE term to the training loss (False: plain CE, and the logs say so).
        bce_start: w after warmup at step 0 of the boost.
        bce_max: w reached at `bce_boost_span` steps.
        bce_warmup_steps: steps over which w fades in from 0.
        bce_boost_span: steps over which w grows from `bce_start` to `bce_max`.
        bce_schedule: `linear` (w follows the fade-in and ramp exactly: full pressure from `bce_warmup_steps` on)
            or `lagged` (that ramp through a leaky integrator of `bce_lag_steps`, reproducing the weights the
            reference recipe logged; `models/bce_term.py`).
        bce_lag_steps: time constant of the `lagged` schedule, in optimizer steps.
        max_new_tokens: tokens `predict` generates per prompt.
        top_k: 0 = greedy decoding; k > 0 samples from the k most likely tokens.
        temperature: softmax temperature for top-k sampling.
    """

    def __init__(self, pretrained_model: str | None = None, model_config: dict | None = None,
                 learning_rate: float = 2e-3, warmup_steps: int = 400, bce_enabled: bool = True,
                 bce_start: float = 0.2, bce_max: float = 0.5, bce_warmup_steps: int = 400,
                 bce_boost_span: int = 2000, bce_schedule: BceSchedule = "linear", bce_lag_steps: int = 420,
                 max_new_tokens: int = 40, top_k: int = 0, temperature: float = 1.0,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, warmup_steps=warmup_steps, **kwargs)
        if min(bce_start, bce_max, bce_warmup_steps, bce_boost_span) < 0 or min(max_new_tokens, bce_lag_steps) < 1 \
                or temperature <= 0:
            raise ConfigError("--model.bce_start/bce_max/bce_warmup_steps/bce_boost_span must be 0 or more, "
                              "--model.max_new_tokens and --model.bce_lag_steps at least 1 and --model.temperature "
                              "positive; fix the one that is not.")
        self.model = None if pretrained_model is None and "vocab_size" not in (model_config or {}) else \
            build_decoder(pretrained_model, model_config, None)
        self.eval_metrics = torch.nn.ModuleDict()

    def configure_for(self, facts: DataFacts) -> None:
        """Build from config once the tokenizer is known (its size is the vocabulary), unless built already; the
        size is then recorded in the hyperparameters, so checkpoints rebuild the same network."""
        if self.model is None:
            self.model = build_decoder(None, self.hparams.model_config, facts.vocab_size)
            self.hparams.model_config = {**(self.hparams.model_config or {}), "vocab_size": facts.vocab_size}
        for name in facts.eval_set_names:
            for stage_name in (name, name.replace("val", "test", 1)):
                if stage_name not in self.eval_metrics:
                    self.eval_metrics[stage_name] = torch.nn.ModuleDict({"ce": MeanMetric(), "bce": MeanMetric()})

    def on_fit_start(self) -> None:
        if not self.hparams.bce_enabled:
            rank_zero_info("BCE term disabled (bce_enabled: false): training on next-token cross-entropy only.")

    # --- losses -------------------------------------------------------------------------------------------------
    def bce_weight(self) -> float:
        hp = self.hparams
        if not hp.bce_enabled:
            return 0.0
        return scheduled_bce_weight(self.global_step, hp.bce_schedule, hp.bce_start, hp.bce_max, hp.bce_warmup_steps,
                                    hp.bce_boost_span, hp.bce_lag_steps)

    def losses(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(CE, BCE, number of predicted tokens); BCE is 0 (and not computed) when the term is disabled. The LM head
        and both losses run fused, chunked over the vocabulary (`models/causal_head.py`, `models/fused_lm_loss.py`)."""
        return next_token_head_losses(self.model, batch["input_ids"], batch["attention_mask"],
                                      with_bce=self.hparams.bce_enabled)

    def training_loss(self, batch: dict) -> tuple[torch.Tensor, dict]:
        ce, bce, _ = self.losses(batch)
        weight = self.bce_weight()
        return ce + weight * bce, {"ce": ce, "bce": bce, "bce_weight": weight}

    def eval_update(self, batch: dict, stage: str, dataloader_idx: int) -> None:
        name = self.facts.eval_set_names[dataloader_idx] if stage == "val" else "test"
        metrics = self.eval_metrics[name]
        # BCE is reported even when not trained on; without gradients the fused pass keeps no (N, V) logits
        ce, bce, count = next_token_head_losses(self.model, batch["input_ids"], batch["attention_mask"])
        metrics["ce"].update(ce, weight=count)  # token-weighted
        metrics["bce"].update(bce, weight=count)

    def eval_values(self, stage: str) -> dict[str, dict[str, torch.Tensor]]:
        weight = self.bce_weight()
        results = {}
        for name, metrics in self.eval_metrics.items():
            if not name.startswith(stage) or metrics["ce"].update_count == 0:
                continue
            ce, bce = metrics["ce"].compute(), metrics["bce"].compute()
            metrics["ce"].reset()
            metrics["bce"].reset()
            results[name] = {"loss": ce, "perplexity": perplexity(ce), "bce": bce, "total_loss": ce + weight * bce}
        return results

    # --- generation -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, prompt_ids: torch.Tensor) -> torch.Tensor:
        """Continue (1, T) prompt ids greedily (top_k 0) or by top-k sampling with `transformers`' `generate`,
        stopping at the data's end token or the context length."""
        hp = self.hparams
        room = self.model.config.max_position_embeddings - prompt_ids.shape[1]
        sampling = {"do_sample": True, "top_k": hp.top_k, "temperature": hp.temperature} if hp.top_k > 0 else {
            "do_sample": False}
        return self.model.generate(prompt_ids, attention_mask=torch.ones_like(prompt_ids),
                                   max_new_tokens=min(hp.max_new_tokens, room), eos_token_id=self.facts.end_token_id,
                                   pad_token_id=self.facts.tokenizer.pad_token_id, **sampling)

    def predict_step(self, batch: dict, batch_idx: int) -> str:
        prompt = batch["input_ids"]  # (1, T)
        text = self.facts.tokenizer.decode(self.generate(prompt)[0, prompt.shape[1]:], skip_special_tokens=True)
        rank_zero_info(f"{self.facts.sample_prompts[int(batch['index'][0])]!r} -> {text!r}")
        return text

    def prediction_rows(self, output: str, batch: dict) -> list[dict]:
        index = int(batch["index"][0])
        return [{"index": index, "prompt": self.facts.sample_prompts[index], "generated": output}]

    def export_pretrained(self, directory, tokenizer):
        """A `pipeline("text-generation")` directory: the decoder config, a generation config that stops at the end
        token, and a tokenizer that starts every prompt with the end token (as every training text did)."""
        from tokenizers import processors

        end_id = self.facts.end_token_id
        end = tokenizer.convert_ids_to_tokens(end_id)
        tokenizer = copy.deepcopy(tokenizer)
        tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{end} $A", pair=f"{end} $A {end} $B", special_tokens=[(end, end_id)])
        for config in (self.model.config, self.model.generation_config):
            config.bos_token_id = config.eos_token_id = end_id
            config.pad_token_id = tokenizer.pad_token_id
        self.model.generation_config.max_new_tokens = self.hparams.max_new_tokens
        return super().export_pretrained(directory, tokenizer)
