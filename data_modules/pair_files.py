"""Reading sentence-pair files: the GLUE TSVs (labelled or test format), `sentence1<TAB>sentence2` lines, and
`.json`/`.jsonl`/`.csv` with `sentence1`, `sentence2` and (optionally) `label` columns, as `run_glue.py` reads them.

The MSR/GLUE files start with a UTF-8 byte-order mark and their sentences contain bare `"` characters, so a CSV
reader with quoting on merges rows (pandas' default loses ~10% of train). TSVs are split on tabs and nothing else:
3,668 train / 408 dev rows, checked in tests/data_modules/test_mrpc_pairs_and_metrics.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from data_modules.reading import read_text_lines
from data_modules.record_files import iter_records, where
from foundation.errors import ConfigError

UNLABELLED = -1


@dataclass
class PairFile:
    """The rows of a pair file: sentence pairs, labels (UNLABELLED where the file has none), row ids (GLUE's
    `index` column, else the row number from 0) and the file line of each row (for error messages)."""

    pairs: list[tuple[str, str]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    def add(self, pair: tuple[str, str], label: int, row_id: int | None, line: int) -> None:
        self.pairs.append(pair)
        self.labels.append(label)
        self.ids.append(len(self.ids) if row_id is None else row_id)
        self.lines.append(line)


def read_pairs(path: Path, option: str) -> PairFile:
    """The rows of a pair file (see `PairFile`)."""
    if path.suffix.lower() in (".json", ".jsonl", ".csv"):
        return _pairs_from_records(path, option)
    lines = read_text_lines(path, option)
    header = lines[0].split("\t")
    glue = header[0] in ("Quality", "index")
    labelled, body, first = header[0] == "Quality", (lines[1:] if glue else lines), (2 if glue else 1)
    columns = 5 if glue else 2
    found = PairFile()
    for number, line in enumerate(body, start=first):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != columns:
            raise ConfigError(f"{option}: {path} line {number} has {len(fields)} tab-separated columns, expected "
                              f"{columns}; fix that line (sentences must not contain tabs).")
        if columns == 2:
            found.add((fields[0], fields[1]), UNLABELLED, None, number)
        elif labelled:
            found.add((fields[3], fields[4]), _label(fields[0], path, number, option), None, number)
        else:
            found.add((fields[3], fields[4]), UNLABELLED, int(fields[0]) if fields[0].isdigit() else None, number)
    if not found.pairs:
        raise ConfigError(f"{option}: {path} has no sentence pairs; pass a file with at least one row.")
    return found


def _label(value, path: Path, number: int, option: str) -> int:
    if str(value).strip() not in ("0", "1"):
        raise ConfigError(f"{option}: {path} {where(path, number)} has label {str(value)!r}, expected 0 or 1; fix "
                          "its label (the Quality column of a TSV).")
    return int(str(value).strip())


def _pairs_from_records(path: Path, option: str) -> PairFile:
    found = PairFile()
    for number, record in iter_records(path, option):
        missing = [c for c in ("sentence1", "sentence2") if c not in record]
        if missing:
            raise ConfigError(f"{option}: {path} {where(path, number)} has no {missing[0]!r} field (it has "
                              f"{', '.join(map(repr, record))}); name the columns sentence1, sentence2 and label.")
        has_label = record.get("label") not in (None, "", -1, "-1")
        label = _label(record["label"], path, number, option) if has_label else UNLABELLED
        row_id = int(record["idx"]) if str(record.get("idx", "")).isdigit() else None
        found.add((str(record["sentence1"]), str(record["sentence2"])), label, row_id, number)
    if not found.pairs:
        raise ConfigError(f"{option}: {path} has no sentence pairs; pass a file with at least one row.")
    return found


def require_labels(rows: PairFile, path: Path, option: str, purpose: str) -> None:
    """Refuse unlabelled rows where labels are needed (training, test metrics), naming the first such line."""
    if UNLABELLED in rows.labels:
        line = rows.lines[rows.labels.index(UNLABELLED)]
        raise ConfigError(f"{option}: {path} {where(path, line)} has no label (GLUE's test files are unlabelled); "
                          f"{purpose} needs a label of 0 or 1 on every row; score unlabelled pairs with `predict` "
                          "instead.")
