"""The bad-input matrix for corpus files: MRPC pairs, WikiText-2, translation pairs and the user's own text.

Every file is built from real rows of `../shared/data` with one mistake in it; each case is checked like the rest of
the matrix (`cli_helpers.run_bad_input`) and is a row of docs/reliability.md's table.
"""

from __future__ import annotations

import csv
import io
import json
from collections import namedtuple

import pytest
from cli_helpers import PROJECT_ROOT, UserInputs, run_bad_input

Case = namedtuple("Case", "command fragments")
WIKITEXT_CONFIG = str(PROJECT_ROOT / "configs" / "wikitext2_bert_micro.yaml")
GLUE_TEST_HEADER = "index\t#1 ID\t#2 ID\t#1 String\t#2 String"


def _mrpc_rows(u: UserInputs, count: int = 12) -> list[list[str]]:
    """Real labelled MRPC rows: [label, id1, id2, sentence1, sentence2]."""
    lines = (u.shared_data / "mrpc" / "train.tsv").read_text(encoding="utf-8-sig").splitlines()[1: count + 1]
    return [line.split("\t") for line in lines]


def _mrpc_tsv(u: UserInputs, name: str, header: str, rows: list[list[str]]) -> str:
    return u.file(name, "\n".join([header, *("\t".join(row) for row in rows)]) + "\n")


def _glue_test_format(u: UserInputs) -> str:
    """GLUE's unlabelled test file: an `index` column where the labelled files have `Quality`."""
    return _mrpc_tsv(u, "test.tsv", GLUE_TEST_HEADER, [[str(i), *row[1:]] for i, row in enumerate(_mrpc_rows(u))])


def _label_minus_one(u: UserInputs) -> str:
    rows = _mrpc_rows(u)
    rows[4][0] = "-1"  # line 6 of the file
    return _mrpc_tsv(u, "train.tsv", "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String", rows)


def _bad_test_label(u: UserInputs) -> str:
    rows = _mrpc_rows(u)
    rows[2][0] = "2"  # line 4 of the file
    return _mrpc_tsv(u, "test.tsv", "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String", rows)


def _records(u: UserInputs, name: str, with_labels: bool, broken_line: str | None = None) -> str:
    records = [{"sentence1": r[3], "sentence2": r[4], **({"label": int(r[0])} if with_labels else {})}
               for r in _mrpc_rows(u)]
    if name.endswith(".csv"):
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
        return u.file(name, text.getvalue())
    lines = [json.dumps(record) for record in records]
    if broken_line is not None:
        lines.insert(3, broken_line)  # line 4
    return u.file(name, "\n".join(lines) + "\n")


def _wikitext_dir(u: UserInputs, *names: str) -> str:
    folder = u.tmp / "inputs" / "wikitext-2"
    folder.mkdir(parents=True)
    for name in names:
        lines = (u.shared_data / "wikitext-2" / name).read_text(encoding="utf-8").splitlines()[:80]
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(folder)


def _pairs(u: UserInputs, name: str, broken: str) -> str:
    lines = (u.shared_data / "tr-en" / "tur.txt").read_text(encoding="utf-8").splitlines()[:5]
    lines.insert(1, broken)  # line 2
    return u.file(name, "\n".join(lines) + "\n")


def _texts(u: UserInputs, count: int = 20) -> list[str]:
    return u.small_text.read_text().splitlines()[:count]


def mrpc(u: UserInputs, *extra: str, stage: str = "fit") -> list[str]:
    return [stage, "--config", u.mrpc(), *extra]


def wikitext(u: UserInputs, *extra: str, stage: str = "fit") -> list[str]:
    return [stage, "--config", WIKITEXT_CONFIG, "--trainer.logger.init_args.save_dir", str(u.tmp / "runs"), *extra]


def causal(u: UserInputs, *extra: str, stage: str = "fit") -> list[str]:
    return [stage, "--config", u.causal(), *extra]


def text(u: UserInputs, name: str, content: str) -> list[str]:
    return ["fit", "--config", u.mlm(), "--data.train_file", u.file(name, content)]


CASES = {
    "MRPC train file in GLUE's unlabelled test format": Case(
        lambda u: mrpc(u, "--data.train_file", _glue_test_format(u)),
        ["--data.train_file", "test.tsv line 2 has no label", "score unlabelled pairs with `predict`"]),
    "MRPC label -1": Case(lambda u: mrpc(u, "--data.train_file", _label_minus_one(u)),
                          ["--data.train_file", "train.tsv line 6 has label '-1'", "expected 0 or 1"]),
    "MRPC .csv without a label column": Case(lambda u: mrpc(u, "--data.train_file", _records(u, "pairs.csv", False)),
                                             ["--data.train_file", "pairs.csv line 2 has no label"]),
    "MRPC .jsonl without labels": Case(lambda u: mrpc(u, "--data.train_file", _records(u, "pairs.jsonl", False)),
                                       ["--data.train_file", "pairs.jsonl line 1 has no label"]),
    "MRPC .jsonl line that is not JSON": Case(
        lambda u: mrpc(u, "--data.train_file", _records(u, "pairs.jsonl", True, "{sentence1: 'unquoted'}")),
        ["--data.train_file", "pairs.jsonl line 4 is not valid JSON", "one JSON object per line"]),
    "MRPC unlabelled test file with `test`": Case(
        lambda u: mrpc(u, "--data.test_file", _glue_test_format(u), stage="test"),
        ["--data.test_file", "test.tsv line 2 has no label", "`test` (metrics)", "`predict`"]),
    "MRPC labelled test file with label 2": Case(
        lambda u: mrpc(u, "--data.test_file", _bad_test_label(u), stage="test"),
        ["--data.test_file", "test.tsv line 4 has label '2'", "expected 0 or 1"]),
    "MRPC predict_sentence1 alone": Case(
        lambda u: mrpc(u, "--data.predict_sentence1", "The cat sat on the mat.", stage="predict"),
        ["--data.predict_sentence1 and --data.predict_sentence2 go together"]),
    "MRPC data_dir is a file": Case(lambda u: mrpc(u, "--data.data_dir", _label_minus_one(u)),
                                    ["--data.data_dir", "train.tsv' is not a directory", "holds dev.tsv"]),
    "ModernBERT config offline": Case(
        lambda u: ["fit", "--config", str(PROJECT_ROOT / "configs" / "mrpc.yaml"),
                   "--trainer.logger.init_args.save_dir", str(u.tmp / "runs")],
        ["--model.pretrained_model='answerdotai/ModernBERT-base'", "Hub is unreachable",
         "pass --model.pretrained_model /path/to/ModernBERT-base"]),
    "WikiText-2 data_dir without wiki.valid.tokens": Case(
        lambda u: wikitext(u, "--data.data_dir", _wikitext_dir(u, "wiki.train.tokens")),
        ["--data.data_dir", "file wiki.valid.tokens is not in", "wikitext-2'"]),
    "WikiText-2 `test` without wiki.test.tokens": Case(
        lambda u: wikitext(u, "--data.data_dir", _wikitext_dir(u, "wiki.train.tokens", "wiki.valid.tokens"),
                           "--data.train_tokenizer", "false", stage="test"),
        ["--data.data_dir", "file wiki.test.tokens is not in", "pass --data.data_dir /path/to/wikitext-2"]),
    "empty translation corpus": Case(lambda u: causal(u, "--data.corpus_file", u.file("tur.txt", "\n\n")),
                                     ["--data.corpus_file", "tur.txt is empty"]),
    "unknown translation direction": Case(lambda u: causal(u, "--data.directions", "[en-de]"),
                                          ["--data.directions", "'en-de'", "en-tr and/or tr-en"]),
    "translation test file line without a tab": Case(
        lambda u: causal(u, "--data.test_file", _pairs(u, "test_pairs.txt", "Hello. Merhaba."), stage="test"),
        ["--data.test_file", "test_pairs.txt line 2 is not `English<TAB>Turkish`", "fix or delete that line"]),
    "generation prompt longer than the context": Case(
        lambda u: causal(u, "--data.predict_prompts", json.dumps([" ".join(["Translate to Turkish:"] * 20)]),
                         stage="predict"),
        ["--data.predict_prompts", "more tokens than the context of 32", "raise --data.max_seq_length"]),
    ".json text file without a text field": Case(
        lambda u: text(u, "corpus.json", "".join(json.dumps({"content": t}) + "\n" for t in _texts(u))),
        ["--data.train_file", "corpus.json line 1 has no 'text' field (it has 'content')"]),
    ".json array of records, one without a text field": Case(
        lambda u: text(u, "corpus.json", json.dumps([{"text": t} for t in _texts(u)] + [{"content": "x"}], indent=1)),
        ["--data.train_file", "corpus.json record 21 of the JSON array has no 'text' field (it has 'content')"]),
    ".csv text file without a text column": Case(
        lambda u: text(u, "corpus.csv", "body\n" + "".join(json.dumps(t) + "\n" for t in _texts(u))),
        ["--data.train_file", "corpus.csv line 2 has no 'text' field (it has 'body')"]),
    ".csv text with an unquoted comma": Case(
        lambda u: text(u, "corpus.csv", "id,text\n1,First Citizen:\n2,Before we proceed any further, hear me speak.\n"),
        ["--data.train_file", "corpus.csv line 3 has 3 fields but the header has 2 (id, text)",
         "quote a field that holds a comma"]),
    ".csv text with a quote never closed": Case(
        lambda u: text(u, "corpus.csv", "text\nFirst Citizen:\n\"Before we proceed\nany further\nhear me speak.\n"),
        ["--data.train_file", "corpus.csv line 3 opens a quote that is never closed"]),
    ".jsonl text line that is not JSON": Case(
        lambda u: text(u, "corpus.jsonl", "".join(json.dumps({"text": t}) + "\n" for t in _texts(u)) + "oops\n"),
        ["--data.train_file", "corpus.jsonl line 21 is not valid JSON"]),
    ".jsonl text that is a number": Case(lambda u: text(u, "numbers.jsonl", '{"text": "one"}\n{"text": 2}\n'),
                                         ["--data.train_file", "numbers.jsonl line 2", "'text' is int, not text"]),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_corpus_file(case, tmp_path, tiny_bert, small_text, shared_data, capsys, bad_input_table):
    command, fragments = CASES[case]
    inputs = UserInputs(tmp_path, tiny_bert, small_text, shared_data)
    argv = command(inputs)
    message = run_bad_input(capsys, argv, tmp_path)
    assert all(fragment in message for fragment in fragments), message
    bad_input_table.record(case, inputs.command(argv), message)
