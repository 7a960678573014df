"""A quiet console: no `Total FLOPs: 0` in the model summary, no tokenizer length warning for text that is cut into
blocks anyway."""

from __future__ import annotations

import logging

import transformers.tokenization_utils_base as tokenization
from lightning.pytorch.utilities.model_summary.model_summary import _format_summary_table

from data_modules import TranslationTextDataModule
from lightning_app.callbacks import RunModelSummary

_MODES = {"train": 3, "eval": 0}
_COLUMNS = [(" ", ["0"]), ("Name", ["model"]), ("Type", ["Linear"]), ("Params", ["1.0 K"]), ("Mode", ["train"])]


def test_model_summary_drops_a_zero_flops_count_and_keeps_a_measured_one(caplog):
    with caplog.at_level(logging.INFO, logger="lightning.pytorch.callbacks.model_summary"):
        RunModelSummary.summarize(_COLUMNS, 1000, 1000, 0.004, _MODES, 0)
        RunModelSummary.summarize(_COLUMNS, 1000, 1000, 0.004, _MODES, 2_600_000)
    zero, measured = [record.getMessage() for record in caplog.records]
    assert "Total params" in zero and "Flops" not in zero
    assert measured.splitlines()[-1].split() == ["2.6", "M", "Total", "Flops"]


def test_lightning_still_prints_a_zero_flops_line():
    """The reason for RunModelSummary: when this fails, Lightning dropped the line and the subclass can go."""
    table = _format_summary_table(1000, 1000, 0.004, _MODES, 0, *_COLUMNS)
    assert table.splitlines()[-1].split() == ["0", "Total", "Flops"]


def test_translation_text_longer_than_the_tokenizer_maximum_is_encoded_without_warning(tmp_path, shared_data,
                                                                                         monkeypatch):
    lines = (shared_data / "tr-en" / "tur.txt").read_text().splitlines()[:200]
    path = tmp_path / "pairs.txt"
    path.write_text("\n".join(lines))
    dm = TranslationTextDataModule(corpus_file=str(path), vocab_size=400, block_size=32, ood_eval_lines=0,
                                   cache_dir=str(tmp_path / "cache"))
    dm.tokenizer.model_max_length = 16  # a 583-token pair against 512 in the real corpus, made small here
    long_text = " ".join(lines[:40])
    warned: list[str] = []
    monkeypatch.setattr(tokenization.logger, "warning", lambda message, *args: warned.append(message))
    assert len(dm.encode([long_text])[0]) > 16  # the whole text, cut into blocks later
    assert warned == []
    dm.tokenizer(long_text)  # the control: a plain call still warns
    assert any("longer than the specified maximum" in message for message in warned)
