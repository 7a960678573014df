"""WikiText2DataModule and the streaming block path: `<unk>`, blank lines, blocks, releases, trained WordPiece,
the micro config's parameter count and clear errors."""

from pathlib import Path

import pytest
import torch
import yaml
from conftest import PROJECT_ROOT

import data_modules.streaming_text as streaming
from data_modules import StreamingTextDataModule, WikiText2DataModule
from data_modules.collators import IGNORE_INDEX
from data_modules.splits import held_out_mask
from foundation.contract import connect
from foundation.errors import ConfigError
from models import MaskedLanguageModel


@pytest.fixture
def wiki_dir(tmp_path, shared_data) -> Path:
    """The first 400 lines of the real v1 train file (blank lines, headings, `<unk>` included) and 120 of valid."""
    folder = tmp_path / "wikitext-2"
    folder.mkdir()
    for name, count in (("wiki.train.tokens", 400), ("wiki.valid.tokens", 120)):
        lines = (shared_data / "wikitext-2" / name).read_text(encoding="utf-8").splitlines(keepends=True)[:count]
        (folder / name).write_text("".join(lines), encoding="utf-8")
    return folder


def _stream(dm, split: str) -> list[int]:
    """Concatenated block bodies (without [CLS]/[SEP]) of a split."""
    tok = dm.tokenizer
    out = []
    for block in dm.splits[split]["input_ids"]:
        assert block[0] == tok.cls_token_id and block[-1] == tok.sep_token_id
        out.extend(block[1:-1])
    return out


def test_blocks_are_the_tokenized_non_blank_lines(wiki_dir, tmp_path):
    dm = WikiText2DataModule(data_dir=str(wiki_dir), max_seq_length=64, cache_dir=str(tmp_path / "cache"))
    dm.setup("fit")
    tok = dm.tokenizer
    lines = (wiki_dir / "wiki.train.tokens").read_text().splitlines()
    kept = [line.strip().replace("<unk>", "[UNK]") for line in lines if line.strip()]
    assert len(kept) < len(lines)  # the sample really has blank (" ") lines
    expected = [i for ids in tok(kept, add_special_tokens=False)["input_ids"] for i in ids]
    assert _stream(dm, "train") == expected
    lengths = [len(block) for block in dm.splits["train"]["input_ids"]]
    assert set(lengths[:-1]) == {64} and 2 < lengths[-1] <= 64


def test_unk_becomes_one_unknown_token(wiki_dir, tmp_path):
    dm = WikiText2DataModule(data_dir=str(wiki_dir), cache_dir=str(tmp_path / "cache"))
    dm.setup("fit")
    tok = dm.tokenizer
    text = (wiki_dir / "wiki.train.tokens").read_text()
    n_unk = text.count("<unk>")
    assert n_unk > 10
    # [UNK]s the tokenizer itself produces on the rest of the text (characters outside its vocabulary)
    native = sum(ids.count(tok.unk_token_id) for ids in tok(text.replace("<unk>", " ").splitlines(),
                                                            add_special_tokens=False)["input_ids"])
    stream = _stream(dm, "train")
    assert stream.count(tok.unk_token_id) == n_unk + native
    assert "unk" not in tok.convert_ids_to_tokens(stream)  # never split into `<`, `unk`, `>`


def test_raw_release_is_found(wiki_dir, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for split in ("train", "valid"):
        (raw / f"wiki.{split}.raw").write_text((wiki_dir / f"wiki.{split}.tokens").read_text().replace("<unk>", "x"))
    dm = WikiText2DataModule(data_dir=str(raw), cache_dir=str(tmp_path / "cache"))
    assert dm.source_files("train")[0].name == "wiki.train.raw"
    dm.setup("fit")
    assert len(dm.splits["validation"]) > 0


def test_missing_data_names_data_dir(tmp_path):
    dm = WikiText2DataModule(data_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"))
    sentence = r"^--data.data_dir: WikiText-2 .* unreachable; pass --data.data_dir /path/to/wikitext-2\.$"
    with pytest.raises(ConfigError, match=sentence):
        dm.setup("fit")


def test_shared_data_is_found_without_options():
    assert WikiText2DataModule().source_files("train")[0].parts[-2:] == ("wikitext-2", "wiki.train.tokens")


def test_trained_wordpiece_is_saved_reused_and_keeps_unk_whole(wiki_dir, tmp_path):
    cache = tmp_path / "cache"
    dm = WikiText2DataModule(data_dir=str(wiki_dir), train_tokenizer=True, vocab_size=1000, cache_dir=str(cache))
    tok = dm.tokenizer
    assert len(tok) == 1000 and tok.convert_ids_to_tokens([0, 1, 2, 3, 4]) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]",
                                                                               "[MASK]"]
    saved = next(cache.glob("wordpiece-*-1000"))
    stamp = (saved / "tokenizer.json").stat().st_mtime_ns
    again = WikiText2DataModule(data_dir=str(wiki_dir), train_tokenizer=True, vocab_size=1000, cache_dir=str(cache))
    assert again.tokenizer.get_vocab() == tok.get_vocab()
    assert (saved / "tokenizer.json").stat().st_mtime_ns == stamp  # loaded, not trained again
    ids = tok(dm.clean_line("a <unk> b"), add_special_tokens=False)["input_ids"]
    assert ids.count(tok.unk_token_id) == 1 and len(ids) == 3


def test_model_vocabulary_follows_trained_tokenizer(wiki_dir, tmp_path, tiny_bert):
    config = {k: v for k, v in tiny_bert.items() if k != "vocab_size"}
    model = MaskedLanguageModel(model_config=config)
    dm = WikiText2DataModule(data_dir=str(wiki_dir), train_tokenizer=True, vocab_size=1000, max_seq_length=64,
                             cache_dir=str(tmp_path / "cache"))
    connect(model, dm)
    assert model.model.config.vocab_size == 1000 and model.hparams.model_config["vocab_size"] == 1000
    assert model.model.get_output_embeddings().weight.shape == (1000, 32)


def test_micro_config_parameter_count():
    config = yaml.safe_load((PROJECT_ROOT / "configs" / "wikitext2_bert_micro.yaml").read_text())
    model_config = config["model"]["init_args"]["model_config"]
    data = config["data"]["init_args"]
    assert "vocab_size" not in model_config and data["train_tokenizer"] is True
    vocab = data.get("vocab_size", 8000)  # the data module's default, which the model adopts
    model = MaskedLanguageModel(model_config={**model_config, "vocab_size": vocab})
    assert sum(p.numel() for p in model.parameters()) == 3_015_104


def test_streaming_chunks_give_the_same_blocks_and_hold_out_lines(wiki_dir, tmp_path, monkeypatch):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text((wiki_dir / "wiki.train.tokens").read_text().replace("<unk>", "unknown"))
    whole = StreamingTextDataModule(train_file=str(corpus), validation_split_percentage=10, max_seq_length=48,
                                    cache_dir=str(tmp_path / "a"))
    whole.setup("fit")
    monkeypatch.setattr(streaming, "CHUNK_LINES", 7)  # many chunk boundaries, each mid-block
    chunked = StreamingTextDataModule(train_file=str(corpus), validation_split_percentage=10, max_seq_length=48,
                                      cache_dir=str(tmp_path / "b"))
    chunked.setup("fit")
    for split in ("train", "validation"):
        assert chunked.splits[split]["input_ids"] == whole.splits[split]["input_ids"]
    assert chunked.splits["train"].cache_files  # memory-mapped from the Arrow file, not held in RAM
    lines = [line.strip() for line in corpus.read_text().splitlines() if line.strip()]
    mask = held_out_mask(len(lines), 10, 42, "--data.validation_split_percentage")  # the one split rule
    held_out = [line for i, line in enumerate(lines) if mask[i]]
    tok = whole.tokenizer
    assert _stream(whole, "validation") == [i for ids in tok(held_out, add_special_tokens=False)["input_ids"]
                                            for i in ids]


def test_masking_counts_per_real_128_block(wiki_dir, tmp_path):
    dm = WikiText2DataModule(data_dir=str(wiki_dir), cache_dir=str(tmp_path / "cache"))
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    special = torch.tensor(dm.tokenizer.all_special_ids)
    for epoch in (0, 1):
        masked, labels = dm.masker(batch["input_ids"], batch["index"], epoch)
        for row in range(len(batch["input_ids"])):
            ids = batch["input_ids"][row]
            maskable = int((~torch.isin(ids, special)).sum())
            n = int(0.15 * maskable + 0.5)
            selected = labels[row] != IGNORE_INDEX
            assert int(selected.sum()) == n  # 19 for a block of 126 ordinary tokens
            assert int((masked[row][selected] == dm.tokenizer.mask_token_id).sum()) == int(0.8 * n + 0.5)
            assert not torch.isin(ids[selected], special).any()


def test_bad_options(tmp_path):
    with pytest.raises(ConfigError, match="--data.block_size=4"):
        WikiText2DataModule(block_size=4)
    with pytest.raises(ConfigError, match="--data.vocab_size=50"):
        _ = WikiText2DataModule(train_tokenizer=True, vocab_size=50, cache_dir=str(tmp_path)).tokenizer
    with pytest.raises(ConfigError, match="--data.train_file is not set"):
        StreamingTextDataModule().setup("fit")
