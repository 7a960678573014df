"""GLUE MRPC: parsing the real TSVs, bad inputs, the ModernBERT path on CPU, metrics by hand, predict output."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import PROJECT_ROOT, tiny_trainer

from data_modules.length_grouped import LengthGroupedSampler
from data_modules.mrpc import MRPCDataModule, read_pairs
from foundation.contract import connect
from foundation.errors import ConfigError
from lightning_app.cli import cli_main
from models.optimization import layer_depth, parameter_groups
from models.sequence_classifier import SequenceClassifier

# A tiny random ModernBERT; its default special-token ids (pad 50283, cls 50281, sep 50282, bos/eos set) do not fit
# the embedded BERT tokenizer, so every fit with it exercises the reconciliation.
TINY_MODERNBERT = {"model_type": "modernbert", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                   "intermediate_size": 64, "max_position_embeddings": 128, "global_attn_every_n_layers": 1}


@pytest.fixture
def mrpc_rows(tmp_path, shared_data) -> Path:
    """A data_dir with the first 48 real train rows and 24 real dev rows (header and BOM kept)."""
    for name, rows in (("train.tsv", 48), ("dev.tsv", 24)):
        lines = (shared_data / "mrpc" / name).read_bytes().split(b"\n")
        (tmp_path / name).write_bytes(b"\n".join(lines[: rows + 1]) + b"\n")
    return tmp_path


def _trainer(**kwargs) -> L.Trainer:
    return tiny_trainer(**kwargs)


def test_real_files_parse_without_losing_or_merging_rows(shared_data):
    found = read_pairs(shared_data / "mrpc" / "train.tsv", "--data.train_file")
    pairs, labels = found.pairs, found.labels
    assert (len(pairs), sum(labels)) == (3668, 2474)
    found = read_pairs(shared_data / "mrpc" / "dev.tsv", "--data.validation_file")
    pairs, labels = found.pairs, found.labels
    assert (len(pairs), sum(labels)) == (408, 279)
    assert not any("\t" in s or "\n" in s for pair in pairs for s in pair)
    assert any('"' in s for pair in pairs for s in pair)  # bare quotes survive as text


@pytest.mark.parametrize("line, message", [
    ("1\t11\t12\tOnly one sentence", "line 3 has 4 tab-separated columns, expected 5"),
    ("2\t11\t12\tA cat.\tA dog.", "line 3 has label '2', expected 0 or 1"),
])
def test_bad_rows_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "train.tsv"
    path.write_text("\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tA \"b\".\tA b.\n" + line + "\n")
    with pytest.raises(ConfigError, match=message) as error:
        read_pairs(path, "--data.train_file")
    assert str(path) in str(error.value)


def test_missing_split_is_named(tmp_path, mrpc_rows):
    (mrpc_rows / "dev.tsv").unlink()
    with pytest.raises(ConfigError, match="dev.tsv' does not exist"):
        MRPCDataModule(data_dir=str(mrpc_rows)).setup("fit")


def test_both_orders_doubles_training_pairs(mrpc_rows):
    data = MRPCDataModule(data_dir=str(mrpc_rows), both_orders=True)
    data.setup("fit")
    train = data.splits["train"]
    assert len(train) == 96 and train["labels"][:48] == train["labels"][48:]
    sep = data.tokenizer.sep_token_id
    first = train["input_ids"][0]
    swapped = train["input_ids"][48]
    cut, cut_swapped = first.index(sep), swapped.index(sep)
    assert first[cut + 1: -1] == swapped[1:cut_swapped]  # (s1, s2) -> (s2, s1)


def test_length_grouped_sampler_is_a_seeded_permutation_with_less_padding():
    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(10, 120, (1000,), generator=generator).tolist()
    sampler = LengthGroupedSampler(range(1000), lengths, batch_size=32, seed=3, mega_batches=10)
    order = list(iter(sampler))
    assert sorted(order) == list(range(1000)) and order == list(iter(sampler))
    sampler.set_epoch(1)
    assert list(iter(sampler)) != order

    def padded(indices):  # padded tokens per epoch when each batch pads to its longest example
        batches = [indices[i: i + 32] for i in range(0, 1000, 32)]
        return sum(len(b) * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in batches)

    assert padded(order) < 0.2 * padded(torch.randperm(1000, generator=generator).tolist())
    longest = [max(lengths[i] for i in order[k: k + 32]) for k in range(0, 1000, 32)]
    descending = sum(a >= b for a, b in zip(longest, longest[1:])) / (len(longest) - 1)
    assert descending < 0.7  # the grouped batches are shuffled, not served longest first (sorted: 1.0)


def test_layerwise_learning_rates():
    model = SequenceClassifier(model_config=TINY_MODERNBERT)
    groups = parameter_groups(model.named_parameters(), 1e-3, 0.01, ("model.classifier.",), 2e-2, layer_decay=0.5,
                              num_layers=2)
    rates = {g["name"]: g["lr"] for g in groups}
    assert rates["head"] == 2e-2 and rates["layer03"] == 1e-3  # head / top (final norm, prediction head)
    assert rates["layer02"] == pytest.approx(5e-4) and rates["layer00"] == pytest.approx(1.25e-4)
    assert layer_depth("model.bert.encoder.layer.4.attention.self.query.weight", 6) == 5
    counted = sum(p.numel() for g in groups for p in g["params"])
    assert counted == sum(p.numel() for p in model.parameters())


def test_modernbert_fits_and_validates_with_reconciled_special_tokens(mrpc_rows):
    L.seed_everything(0)
    model = SequenceClassifier(model_config=TINY_MODERNBERT, learning_rate=1e-3, average_both_orders=True)
    data = MRPCDataModule(data_dir=str(mrpc_rows), batch_size=8)
    with pytest.warns(UserWarning, match="pad_token_id 50283 -> 0.*bos_token_id 50281 -> None"):
        trainer = _trainer(max_steps=4, limit_val_batches=2, num_sanity_val_steps=0)
        trainer.fit(model, data)
    config = model.model.config
    assert (config.pad_token_id, config.cls_token_id, config.sep_token_id) == (0, 101, 102)
    assert config.bos_token_id is None and config.eos_token_id is None
    metrics = trainer.validate(model, data, verbose=False)[0]
    assert {"val/loss", "val/accuracy", "val/f1"} <= set(metrics)
    assert all(math.isfinite(v) for v in metrics.values())


def test_logged_metrics_equal_a_hand_computation(mrpc_rows, tiny_bert):
    L.seed_everything(1)
    model = SequenceClassifier(model_config=tiny_bert, average_both_orders=True)
    data = MRPCDataModule(data_dir=str(mrpc_rows), eval_batch_size=5, max_seq_length=64)  # 24 rows: a ragged last batch
    logged = _trainer().validate(model, data, verbose=False)[0]
    model.eval()
    probs, labels, losses = [], [], []
    with torch.no_grad():
        for batch in data.val_dataloader():
            forward = model.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                  token_type_ids=batch["token_type_ids"]).logits.softmax(-1)
            backward = model.model(input_ids=batch["swapped_input_ids"], attention_mask=batch[
                "swapped_attention_mask"], token_type_ids=batch["swapped_token_type_ids"]).logits.softmax(-1)
            mean = (forward + backward) / 2  # (B, 2)
            probs += mean[:, 1].tolist()
            labels += batch["labels"].tolist()
            losses += (-mean[torch.arange(len(mean)), batch["labels"]].log()).tolist()
    predicted = [int(p >= 0.5) for p in probs]
    tp = sum(p == y == 1 for p, y in zip(predicted, labels))
    fp = sum(p == 1 and y == 0 for p, y in zip(predicted, labels))
    fn = sum(p == 0 and y == 1 for p, y in zip(predicted, labels))
    assert logged["val/accuracy"] == pytest.approx(sum(p == y for p, y in zip(predicted, labels)) / 24, abs=1e-6)
    assert logged["val/f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn) if tp else 0.0, abs=1e-6)
    assert logged["val/loss"] == pytest.approx(sum(losses) / 24, rel=1e-5)


def test_predict_writes_glue_submission_files_and_a_single_pair(mrpc_rows, tiny_bert, tmp_path, caplog):
    from lightning_app.callbacks import PredictionFiles

    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("index\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
                     "7\t1\t2\tThe cat sat.\tA cat was sitting.\n9\t3\t4\tIt rained \"hard\".\tStocks rose.\n")
    output = tmp_path / "out"
    model = SequenceClassifier(model_config=tiny_bert)
    _trainer(callbacks=[PredictionFiles(str(output))]).predict(
        model, MRPCDataModule(data_dir=str(mrpc_rows), predict_file=str(pairs), max_seq_length=64))
    rows = [line.split("\t") for line in (output / "MRPC.tsv").read_text().splitlines()]
    assert rows == [["index", "prediction"], ["7", rows[1][1]], ["9", rows[2][1]]]  # GLUE's submission format
    probabilities = [line.split("\t") for line in (output / "MRPC.probabilities.tsv").read_text().splitlines()]
    assert probabilities[0] == ["index", "prob_equivalent", "label"] and [r[0] for r in probabilities[1:]] == ["7", "9"]
    for (_, prediction), (_, p, label) in zip(rows[1:], probabilities[1:]):
        assert 0 <= float(p) <= 1 and int(prediction) == int(float(p) >= 0.5)
        assert label == ("equivalent" if prediction == "1" else "not_equivalent")

    data = MRPCDataModule(data_dir=str(mrpc_rows), predict_sentence1="A b.", predict_sentence2="B a.",
                          max_seq_length=64)
    with caplog.at_level("INFO"):
        _trainer(callbacks=[PredictionFiles(str(tmp_path / "pair"))]).predict(model, data)
    assert "P(equivalent) = " in caplog.text
    assert len((tmp_path / "pair" / "MRPC.tsv").read_text().splitlines()) == 2


def test_num_labels_and_tokenizer_mistakes_stop_before_training(mrpc_rows, tiny_bert, tmp_path):
    data = MRPCDataModule(data_dir=str(mrpc_rows), max_seq_length=64)
    with pytest.raises(ConfigError, match="--model.num_labels=3 disagrees with the data, which has 2 labels"):
        connect(SequenceClassifier(model_config=tiny_bert, num_labels=3), data)
    SequenceClassifier(model_config=tiny_bert).model.save_pretrained(tmp_path / "no_tokenizer")
    model = SequenceClassifier(pretrained_model=str(tmp_path / "no_tokenizer"))
    with pytest.raises(ConfigError, match="has no tokenizer files"):
        connect(model, MRPCDataModule(data_dir=str(mrpc_rows), max_seq_length=64))


def test_modernbert_config_stops_with_one_sentence_offline(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["--config", str(PROJECT_ROOT / "configs" / "mrpc.yaml")], run=False)
    assert exit_info.value.code == 2
    assert "pass --model.pretrained_model /path/to/ModernBERT-base." in capsys.readouterr().err
