"""Special-token ids of a model config made to agree with the tokenizer the data is encoded with."""

from __future__ import annotations

from lightning.pytorch.utilities import rank_zero_warn

SPECIAL_TOKENS = ("pad", "cls", "sep", "bos", "eos")


def reconcile_special_tokens(config, tokenizer) -> dict[str, tuple]:
    """Make the model config's special-token ids those of the tokenizer; warn about each change.

    ModernBERT's config ships bos/eos ids although its tokenizer has no such tokens, and a config paired with another
    tokenizer (a BERT vocabulary in tests, a retrained tokenizer) has pad/cls/sep ids that point at the wrong rows.
    Ids the tokenizer lacks are unset in the config. Returns {name: (old, new)} of what changed.
    """
    changed = {}
    for name in SPECIAL_TOKENS:
        attribute = f"{name}_token_id"
        old = getattr(config, attribute, None)
        new = getattr(tokenizer, attribute, None)
        if name in ("cls", "sep") and not hasattr(config, attribute):
            continue  # BERT configs do not carry cls/sep ids; nothing reads them
        if old != new:
            setattr(config, attribute, new)
            changed[attribute] = (old, new)
    if changed:
        rank_zero_warn("Model config special tokens reconciled with the tokenizer: "
                       + ", ".join(f"{k} {old} -> {new}" for k, (old, new) in changed.items()) + ".")
    return changed
