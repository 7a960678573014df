"""Train a BERT WordPiece tokenizer on a corpus with the `tokenizers` library, or reuse the one trained before.

The result is saved with `save_pretrained`, so it loads with `AutoTokenizer`, travels with exported models, and
the next run with the same corpus and vocabulary size reuses it instead of training again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from data_modules.tokenizer_loading import saved_or_trained_tokenizer
from foundation.errors import ConfigError

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # ids 0..4, in the order BERT's vocab.txt has


def trained_wordpiece(directory: Path, lines: Callable[[], Iterable[str]], vocab_size: int):
    """The tokenizer saved in `directory`, training it on `lines()` first if the directory has none.

    Args:
        directory: where the tokenizer lives (its name should encode the corpus fingerprint and `vocab_size`).
        lines: a callable returning an iterator over training lines (called once, only when training).
        vocab_size: target vocabulary size including the special tokens.
    """
    if vocab_size < len(SPECIAL_TOKENS) + 100:
        raise ConfigError(f"--data.vocab_size={vocab_size} is too small for a WordPiece vocabulary; pass at least "
                          "1000 (the micro config uses 8000).")
    return saved_or_trained_tokenizer(directory, lambda: _train(lines, vocab_size), "a WordPiece tokenizer")


def _train(lines: Callable[[], Iterable[str]], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertTokenizerFast

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)  # same normalisation as bert-base-uncased
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                        show_progress=False)
    tokenizer.train_from_iterator(lines(), trainer=trainer)
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return BertTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                             sep_token="[SEP]", mask_token="[MASK]", model_max_length=512)
