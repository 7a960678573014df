"""TranslationTextDataModule: pair-level split, templates, Turkish-preserving tokenizer, blocks, bad input."""

from __future__ import annotations

import pytest

from data_modules import TranslationTextDataModule
from data_modules.translation import read_pairs
from foundation.errors import ConfigError


def test_real_corpus_reads_every_pair(shared_data):
    pairs = read_pairs(shared_data / "tr-en" / "tur.txt", "--data.corpus_file")
    assert len(pairs) == 41098 and pairs[0] == ("Hi.", "Merhaba.")


def test_split_keeps_both_directions_of_a_pair_together(tmp_path, shared_data):
    lines = (shared_data / "tr-en" / "tur.txt").read_text().splitlines()[:200]
    path = tmp_path / "pairs.txt"
    path.write_text("\n".join(lines))
    dm = TranslationTextDataModule(corpus_file=str(path), directions=["en-tr", "tr-en"],
                                   validation_split_percentage=10, tokenizer=None, vocab_size=400)
    texts = dm.split_texts()
    assert len(texts["validation"]) == 2 * 20 and len(texts["train"]) == 2 * 180

    def pairs(split: str, direction_prefix: str) -> set[tuple[str, str]]:
        found = set()
        for text in texts[split]:
            head, tail = text.split("\n")
            if head.startswith(direction_prefix):
                source = head.removeprefix(direction_prefix)
                found.add((source, tail) if "Turkish" in direction_prefix else (tail, source))
        return found

    val_en_tr, val_tr_en = pairs("validation", "Translate to Turkish: "), pairs("validation", "Translate to English: ")
    assert val_en_tr == val_tr_en  # both directions of each held-out pair are held out
    assert not val_en_tr & pairs("train", "Translate to Turkish: ")


def test_trained_tokenizer_keeps_turkish_and_blocks_are_full(tmp_path, shared_data):
    lines = (shared_data / "tr-en" / "tur.txt").read_text().splitlines()[:400]
    path = tmp_path / "pairs.txt"
    path.write_text("\n".join(lines))
    dm = TranslationTextDataModule(corpus_file=str(path), vocab_size=500, max_seq_length=32, ood_eval_lines=0,
                                   cache_dir=str(tmp_path / "cache"))
    dm.setup("fit")
    text = "Translate to Turkish: I am here.\nBuradayım, çünkü ağır işim var."
    assert dm.tokenizer.decode(dm.tokenizer(text, add_special_tokens=False)["input_ids"]) == text
    blocks = dm.splits["train"]["input_ids"]
    assert all(len(b) == 32 for b in blocks[:-1]) and 0 < len(blocks[-1]) <= 32
    again = TranslationTextDataModule(corpus_file=str(path), vocab_size=500, max_seq_length=32, ood_eval_lines=0,
                                      cache_dir=str(tmp_path / "cache"))
    again.setup("fit")
    assert again.splits["train"].cache_files == dm.splits["train"].cache_files  # cached


def test_empty_corpus(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("")
    with pytest.raises(ConfigError, match="--data.corpus_file: .*empty.txt is empty"):
        TranslationTextDataModule(corpus_file=str(path)).split_texts()


def test_line_without_separator_names_the_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("Hi.\tMerhaba.\nRun!\tKoş!\nThis line has no tab\n")
    with pytest.raises(ConfigError, match="bad.txt line 3 is not `English<TAB>Turkish`"):
        TranslationTextDataModule(corpus_file=str(path)).split_texts()


@pytest.mark.parametrize("kwargs, option", [({"directions": ["en-fr"]}, "directions"),
                                             ({"validation_split_percentage": 0}, "validation_split_percentage"),
                                             ({"batch_size": 0}, "batch_size")])
def test_bad_options(kwargs, option):
    with pytest.raises(ConfigError, match=option):
        TranslationTextDataModule(**kwargs)


def test_validation_blocks_are_the_held_out_pairs_not_the_training_blocks(tmp_path, shared_data):
    """Each split is tokenized and cached under its own key (an earlier cache key lacked the split, so validation
    silently re-used the training blocks and scored the model on what it trained on)."""
    lines = (shared_data / "tr-en" / "tur.txt").read_text().splitlines()[:400]
    path = tmp_path / "pairs.txt"
    path.write_text("\n".join(lines))
    dm = TranslationTextDataModule(corpus_file=str(path), vocab_size=500, max_seq_length=32, ood_eval_lines=0,
                                   validation_split_percentage=10, cache_dir=str(tmp_path / "cache"))
    dm.setup("fit")
    train = {tuple(b) for b in dm.splits["train"]["input_ids"]}
    validation = [tuple(b) for b in dm.splits["validation"]["input_ids"]]
    assert 0 < len(validation) < len(train) / 5  # ~10% of the pairs, not a copy of the training split
    assert not train.intersection(validation)
    held_out = dm.split_texts()["validation"]
    decoded = dm.tokenizer.decode([t for block in validation for t in block])
    assert held_out[0] in decoded and held_out[-1] in decoded


def test_the_trained_bpe_is_not_reused_across_splits_that_train_it_on_other_pairs(tmp_path, shared_data):
    path = tmp_path / "pairs.txt"
    path.write_text("\n".join((shared_data / "tr-en" / "tur.txt").read_text().splitlines()[:300]))
    cache = tmp_path / "cache"

    def trained(**settings) -> set:
        TranslationTextDataModule(corpus_file=str(path), tokenizer=None, vocab_size=400, cache_dir=str(cache),
                                  **settings).tokenizer
        return {entry.name for entry in cache.glob("bpe-*")}

    first = trained(validation_split_percentage=50)
    assert trained(validation_split_percentage=50) == first  # same training pairs: reused
    assert len(trained(validation_split_percentage=20)) == 2  # other training pairs: its own vocabulary
    assert len(trained(validation_split_percentage=20, directions=["tr-en"])) == 3
