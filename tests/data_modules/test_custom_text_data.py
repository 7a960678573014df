"""CustomTextDataModule: splits, blocks, caching, and the bad inputs users actually give it."""

from types import SimpleNamespace

import pytest
import torch

from data_modules import CustomTextDataModule
from foundation.errors import ConfigError


def _setup(**kwargs) -> CustomTextDataModule:
    datamodule = CustomTextDataModule(**kwargs)
    datamodule.setup("fit")
    return datamodule


def test_seeded_split_sizes_and_blocks(small_text):
    dm = _setup(train_file=str(small_text), validation_split_percentage=20, max_seq_length=32)
    train, val = dm.splits["train"], dm.splits["validation"]
    assert all(len(ids) <= 32 for ids in train["input_ids"])
    assert all(ids[0] == dm.tokenizer.cls_token_id and ids[-1] == dm.tokenizer.sep_token_id
               for ids in train["input_ids"])
    assert sum(len(ids) == 32 for ids in train["input_ids"]) >= len(train) - 1  # only the last block is shorter
    again = _setup(train_file=str(small_text), validation_split_percentage=20, max_seq_length=32)
    assert again.splits["validation"]["input_ids"] == val["input_ids"]


def test_line_by_line_keeps_every_line(small_text):
    dm = _setup(train_file=str(small_text), validation_split_percentage=25, line_by_line=True)
    assert len(dm.splits["train"]) + len(dm.splits["validation"]) == 120
    assert len(dm.splits["validation"]) == 30


def test_grouping_keeps_all_tokens(small_text):
    dm = _setup(train_file=str(small_text), validation_file=str(small_text), max_seq_length=16)
    lines = [ln.strip() for ln in small_text.read_text().splitlines() if ln.strip()]
    expected = sum(len(ids) for ids in dm.tokenizer(lines, add_special_tokens=False)["input_ids"])
    assert sum(len(ids) - 2 for ids in dm.splits["train"]["input_ids"]) == expected


def test_cache_is_reused_and_invalidated_by_edits(small_text):
    first = _setup(train_file=str(small_text), validation_split_percentage=20)
    second = _setup(train_file=str(small_text), validation_split_percentage=20)
    assert second.splits["train"].cache_files == first.splits["train"].cache_files  # same on-disk cache
    small_text.write_text(small_text.read_text() + "A new line the cache has never seen.\n")
    edited = _setup(train_file=str(small_text), validation_split_percentage=20)
    assert edited.splits["train"].cache_files != first.splits["train"].cache_files


def test_resolves_shared_data_without_options():
    dm = _setup(validation_split_percentage=20, line_by_line=True)
    assert (len(dm.splits["train"]), len(dm.splits["validation"])) == (1200, 300)  # the 1,500-line corpus


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    (b"", "is empty"),
    (b"\n\n  \n", "is empty"),
    (b"good line\nbad \xff\xfe line\n", "line 2 is not valid UTF-8"),
    (b"\x00\x01\x02binary", "looks binary"),
])
def test_bad_train_files(tmp_path, content, message):
    path = tmp_path / "train.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as error:
        _setup(train_file=str(path))
    assert "--data.train_file" in str(error.value)


def test_crlf_and_bom_are_read(tmp_path):
    path = tmp_path / "windows.txt"
    path.write_bytes("\ufeffFirst line of text here.\r\nSecond line of text.\r\n".encode())
    dm = _setup(train_file=str(path), validation_file=str(path), line_by_line=True)
    assert dm.tokenizer.decode(dm.splits["train"][0]["input_ids"][1:-1]) == "first line of text here."


def test_empty_validation_split(tmp_path):
    path = tmp_path / "two.txt"
    path.write_text("one line\nanother line\n")
    with pytest.raises(ConfigError, match="empty validation split"):
        _setup(train_file=str(path), validation_split_percentage=5, line_by_line=True)


@pytest.mark.parametrize("percentage", [0, 100, -5, 150])
def test_split_percentage_out_of_range(percentage):
    with pytest.raises(ConfigError, match="validation_split_percentage"):
        CustomTextDataModule(validation_split_percentage=percentage)


def test_max_seq_length_above_tokenizer_limit(small_text):
    with pytest.raises(ConfigError, match="--data.max_seq_length=1024 exceeds the tokenizer's limit of 512"):
        _setup(train_file=str(small_text), max_seq_length=1024)


@pytest.mark.parametrize("kwargs, option", [({"batch_size": 0}, "batch_size"), ({"mlm_probability": 1.5},
                                             "mlm_probability"), ({"max_seq_length": 0}, "max_seq_length")])
def test_invalid_numbers(kwargs, option):
    with pytest.raises(ConfigError, match=option):
        CustomTextDataModule(**kwargs)


def test_a_trained_wordpiece_is_not_reused_across_splits_that_train_it_on_other_lines(small_text, tmp_path):
    cache = tmp_path / "cache"

    def trained(**settings) -> set:
        CustomTextDataModule(train_file=str(small_text), train_tokenizer=True, vocab_size=1000, cache_dir=str(cache),
                             **settings).tokenizer
        return {entry.name for entry in cache.glob("wordpiece-*")}

    first = trained(validation_split_percentage=50)
    assert trained(validation_split_percentage=50) == first  # same training lines: reused
    assert len(trained(validation_split_percentage=20)) == 2  # other lines: its own vocabulary
    assert len(trained(validation_split_percentage=20, split_seed=7)) == 3
    assert len(trained(validation_file=str(small_text))) == 4  # every line of the file trains it


def _masked(dm: CustomTextDataModule, batch: dict, training: bool, epoch: int) -> dict:
    """`batch` as the model receives it in a training or validation step of `epoch` (masks drawn on transfer)."""
    dm.trainer = SimpleNamespace(predicting=False, training=training, current_epoch=epoch, overfit_batches=0)
    return dm.on_before_batch_transfer({key: value.clone() if torch.is_tensor(value) else value
                                        for key, value in batch.items()}, 0)


def test_the_mask_probability_reaches_the_batches(small_text):
    dm = _setup(train_file=str(small_text), validation_split_percentage=20, max_seq_length=32, mlm_probability=0.3)
    batch = next(iter(dm.train_dataloader()))
    labels = _masked(dm, batch, training=True, epoch=0)["labels"]
    special = torch.isin(batch["input_ids"], torch.tensor(dm.tokenizer.all_special_ids))
    maskable = ((batch["attention_mask"] == 1) & ~special).sum(1).double()
    assert (labels != -100).sum(1).tolist() == torch.floor(0.3 * maskable + 0.5).long().tolist()  # per row


def test_validation_masks_are_the_same_every_epoch_and_training_masks_are_not(small_text):
    dm = _setup(train_file=str(small_text), validation_split_percentage=30, max_seq_length=32)
    batch = next(iter(dm.val_dataloader()))
    assert torch.equal(_masked(dm, batch, False, 0)["labels"], _masked(dm, batch, False, 3)["labels"])
    assert not torch.equal(_masked(dm, batch, True, 0)["labels"], _masked(dm, batch, True, 3)["labels"])


def test_the_seed_sets_the_training_order(small_text):
    def first_batch(seed: int) -> list[int]:
        dm = _setup(train_file=str(small_text), validation_split_percentage=20, max_seq_length=32, seed=seed)
        return next(iter(dm.train_dataloader()))["index"].tolist()

    assert first_batch(1) == first_batch(1) != first_batch(2)


def test_a_bad_validation_file_stops_before_the_training_split_is_tokenized(small_text, tmp_path, monkeypatch):
    """The validation split is built first: a bad validation file costs seconds, not a tokenized training set."""
    bad = tmp_path / "valid.txt"
    bad.write_bytes(b"A fine first line.\nA second line with \xff in it.\n")
    built = []
    original = CustomTextDataModule.build_split
    monkeypatch.setattr(CustomTextDataModule, "build_split",
                        lambda self, split: built.append(split) or original(self, split))
    with pytest.raises(ConfigError, match=r"--data.validation_file: .*valid.txt line 2 is not valid UTF-8"):
        _setup(train_file=str(small_text), validation_file=str(bad))
    assert built == ["validation"]
    dm = _setup(train_file=str(small_text), validation_file=str(small_text))
    assert list(dm.splits) == ["train", "validation"]  # still described, and kept, in the stage's order
