"""The data <-> model contract: what a model may learn from its data module, and the one step that passes it.

    model, data = MaskedLanguageModel(...), CustomTextDataModule(...)
    connect(model, data)            # the CLI does this before every fit / validate / test / predict
    trainer.fit(model, datamodule=data)

Exactly two things cross, once, in this order:

1. model -> data: `model.tokenizer_source()`, the tokenizer that belongs to the model's weights (a pretrained
   directory's own tokenizer; None when the model has no opinion). The data module uses it unless the user set
   `--data.tokenizer` (as Hugging Face's `run_mlm.py` takes the tokenizer from `model_name_or_path` unless
   `--tokenizer_name` is given).
2. data -> model: `data.facts()`, a `DataFacts`. The model builds what depends on the data (vocabulary rows,
   number of labels) and refuses what does not fit (a tokenizer larger than its embedding, sequences longer than
   its positions) before anything is written.

No model reads any other attribute of its data module, and no data module reads the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class DataFacts:
    """Everything a model may know about its data.

    Attributes:
        tokenizer: the Hugging Face tokenizer the data is encoded with: its length is the vocabulary the model must
            cover; its special-token ids and `decode` serve predictions and export.
        max_length: the longest example the data yields, special tokens included.
        length_option: the data option that sets `max_length`, named in errors (e.g. `--data.max_seq_length`).
        tokenizer_option: the option that chose the tokenizer, named in errors.
        num_labels: number of classes (classification data only).
        label_names: class names by id, e.g. ("not_equivalent", "equivalent"); written into exported configs.
        eval_set_names: the metric prefix of each validation loader, in loader order ("val", then extra sets).
        end_token_id: the id that ends a text (causal data): generation stops there.
        sample_prompts: the texts of the predict set (fill-mask sentences, generation prompts), for samples
            shown during training.
    """

    tokenizer: Any
    max_length: int
    length_option: str = "--data.max_seq_length"
    tokenizer_option: str = "--data.tokenizer"
    num_labels: int | None = None
    label_names: tuple[str, ...] | None = None
    eval_set_names: tuple[str, ...] = ("val",)
    end_token_id: int | None = None
    sample_prompts: tuple[str, ...] = ()

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)


@runtime_checkable
class TaskModel(Protocol):
    """The model's side of the contract."""

    def tokenizer_source(self) -> str | None:
        """A local tokenizer directory that belongs to the weights, or None (the data's default tokenizer)."""

    def connect(self, facts: DataFacts) -> None:
        """Build what depends on the data and raise `ConfigError` for what does not fit."""


@runtime_checkable
class TaskData(Protocol):
    """The data module's side of the contract."""

    def follow_model_tokenizer(self, source: str | None) -> None:
        """Use `source` as the tokenizer unless the user chose one; called before any data is read."""

    def facts(self) -> DataFacts:
        """The facts above, computed without reading the corpus (a tokenizer may be trained, and is cached)."""


def connect(model: TaskModel, data: TaskData) -> DataFacts:
    """Pass the tokenizer choice from model to data, then the data's facts to the model; returns the facts."""
    data.follow_model_tokenizer(model.tokenizer_source())
    facts = data.facts()
    model.connect(facts)
    return facts
