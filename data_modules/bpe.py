"""Train a byte-level BPE tokenizer with the `tokenizers` library, or reuse the one trained before.

Byte-level BPE keeps case, Turkish letters (ç, ğ, ı, İ, ş, ö, ü) and newlines as they are, unlike the uncased
bert-base WordPiece normalizer, which lowercases and strips accents (`ş` -> `s`, `ı` -> `i`). The tokenizer is saved
with `save_pretrained` and loads with `AutoTokenizer`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from data_modules.tokenizer_loading import saved_or_trained_tokenizer
from foundation.errors import ConfigError

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"


def trained_bpe(directory: Path, lines: Callable[[], Iterable[str]], vocab_size: int):
    """The tokenizer saved in `directory`, training it on `lines()` first if the directory has none.

    Args:
        directory: where the tokenizer lives (name it after the corpus fingerprint and `vocab_size`).
        lines: a callable returning the training texts (called only when training).
        vocab_size: target vocabulary size, special tokens included.
    """
    if vocab_size < 300:
        raise ConfigError(f"--data.vocab_size={vocab_size} is too small for byte-level BPE (256 bytes + merges); "
                          "pass at least 1000 (the default is 8000).")
    return saved_or_trained_tokenizer(directory, lambda: _train(lines, vocab_size), "a byte-level BPE tokenizer")


def _train(lines: Callable[[], Iterable[str]], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[PAD, EOS, UNK], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(lines(), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token=PAD, eos_token=EOS, unk_token=UNK,
                                   model_max_length=512)
