"""Tokenizing a stream of texts into training examples in bounded memory.

Texts are tokenized `CHUNK_LINES` at a time (and never more than `CHUNK_CHARS` characters per call), so neither
the corpus nor its token stream is ever held whole: with the piece-wise reading of `data_modules.reading`, resident
memory stays bounded on corpora larger than RAM and on a file that is one 50 MB line (bench/README.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

CHUNK_LINES = 2_000  # texts per tokenizer call: large enough for the fast tokenizer's batching, small in memory
CHUNK_CHARS = 1_000_000  # ... and at most this many characters per call (~250k tokens: ~100 MB of encodings)


def iter_chunks(texts: Iterable[str]) -> Iterator[list[str]]:
    """Consecutive lists of texts, each at most `CHUNK_LINES` long and about `CHUNK_CHARS` characters."""
    chunk: list[str] = []
    size = 0
    for text in texts:
        chunk.append(text)
        size += len(text)
        if len(chunk) >= CHUNK_LINES or size >= CHUNK_CHARS:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def iter_blocks(texts: Iterable[str], tokenizer, block_size: int, wrap: bool = True,
                end_token_id: int | None = None) -> Iterator[list[int]]:
    """Tokenize `texts`, concatenate them, and yield blocks of `block_size` ids.

    Args:
        texts: the texts, in order.
        tokenizer: a Hugging Face tokenizer (special tokens are not added per text).
        block_size: ids per block, including the wrapping tokens.
        wrap: True = each block is `[CLS] + (block_size - 2) ids + [SEP]` (masked LM); False = bare ids.
        end_token_id: appended after every text (causal LM: where a text ends); None = nothing.

    The last, shorter block is kept. Memory: one chunk of texts plus less than one block of carried-over ids.
    """
    body = block_size - 2 if wrap else block_size
    ending = [end_token_id] if end_token_id is not None else []
    carry: list[int] = []
    for chunk in iter_chunks(texts):
        for ids in tokenizer(chunk, add_special_tokens=False, verbose=False)["input_ids"]:
            carry.extend(ids)
            carry.extend(ending)
        start = 0
        while len(carry) - start >= body:
            yield _wrapped(carry[start: start + body], tokenizer, wrap)
            start += body
        carry = carry[start:]
    if carry:
        yield _wrapped(carry, tokenizer, wrap)


def _wrapped(ids: list[int], tokenizer, wrap: bool) -> list[int]:
    return [tokenizer.cls_token_id, *ids, tokenizer.sep_token_id] if wrap else list(ids)


def iter_line_examples(texts: Iterable[str], tokenizer, max_length: int, counter: dict) -> Iterator[list[int]]:
    """One `[CLS] text [SEP]` example per text, truncated to `max_length` ids (its last id kept as [SEP]);
    `counter["truncated"]` and `counter["texts"]` count what happened, for the caller's warning."""
    for chunk in iter_chunks(texts):
        for ids in tokenizer(chunk, truncation=False, verbose=False)["input_ids"]:
            counter["texts"] = counter.get("texts", 0) + 1
            if len(ids) > max_length:
                counter["truncated"] = counter.get("truncated", 0) + 1
                ids = ids[: max_length - 1] + ids[-1:]
            yield ids
