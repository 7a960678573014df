"""Fill-mask samples during training, readable next to the curves."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.utilities import rank_zero_info


class FillMaskSamples(L.Callback):
    """Prints fill-mask predictions for the data's sample sentences when fit ends, and logs them as TensorBoard
    text after every validation, so a run's progress can be read as well as plotted.

    Args:
        top_k: candidates shown per [MASK].
    """

    def __init__(self, top_k: int = 5):
        self.top_k = top_k

    def _samples(self, pl_module: L.LightningModule) -> list[str]:
        facts = pl_module.facts  # the data<->model contract: the tokenizer and the sample prompts
        encoded = facts.tokenizer(list(facts.sample_prompts), padding=True, return_tensors="pt").to(pl_module.device)
        was_training = pl_module.training
        pl_module.eval()
        results = pl_module.fill_mask(encoded["input_ids"], encoded["attention_mask"], facts.tokenizer, self.top_k)
        pl_module.train(was_training)
        lines = []
        for sentence, result in zip(facts.sample_prompts, results):
            for candidates in result["masks"]:
                lines.append(f"{sentence} -> " + ", ".join(f"{tok} ({p:.3f})" for tok, p in candidates))
        return lines

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or not trainer.state.fn == "fit":
            return
        text = "\n\n".join(self._samples(pl_module))
        for logger in trainer.loggers:
            experiment = getattr(logger, "experiment", None)
            if hasattr(experiment, "add_text"):
                experiment.add_text("samples/fill_mask", text, global_step=trainer.global_step)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            rank_zero_info("Fill-mask after training:\n  " + "\n  ".join(self._samples(pl_module)))
