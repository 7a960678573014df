"""The examples of a corpus file in any of the shapes Hugging Face's example scripts read: a `.txt` file (one
example per line), JSON Lines or one JSON array of objects (`.json`/`.jsonl`), or a `.csv` file with a header row;
read strictly (a bad record stops the run naming its line) and in bounded memory (`reading`'s pieces)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from data_modules.reading import PIECE_BYTES, cut_at_whitespace, existing_file, iter_line_pieces
from foundation.errors import ConfigError


def iter_texts(path: Path, option: str, column: str = "text") -> Iterator[tuple[int, str]]:
    """(line number, text) of every example of a `.txt` (one per line), `.json`/`.jsonl` or `.csv` file (the
    `column` field of each record, as Hugging Face's example scripts read them)."""
    suffix = path.suffix.lower()
    if suffix not in (".json", ".jsonl", ".csv"):
        yield from iter_line_pieces(path, option)
        return
    found = False
    for number, record in iter_records(path, option):
        if column not in record:
            raise ConfigError(f"{option}: {path} {where(path, number)} has no {column!r} field (it has "
                              f"{', '.join(map(repr, record)) or 'none'}); name the text column {column!r}.")
        value = record[column]
        if not isinstance(value, str):
            raise ConfigError(f"{option}: {path} {where(path, number)}: {column!r} is {type(value).__name__}, not "
                              "text; store the text as a string.")
        for piece in split_long_text(value):
            found = True
            yield number, piece
    if not found:
        raise ConfigError(f"{option}: {path} is empty; pass a file with text in it.")


def split_long_text(text: str, limit: int = PIECE_BYTES) -> Iterator[str]:
    """A text in stripped, non-blank pieces of at most about `limit` characters, cut at whitespace."""
    while len(text) > limit:
        piece, rest = cut_at_whitespace(text[:limit])
        if piece.strip():
            yield piece.strip()
        text = rest + text[limit:]
    if text.strip():
        yield text.strip()


def where(path: Path, number: int) -> str:
    """How an error names the `number` that `iter_records` gave: a line, or a record of a JSON array."""
    if path.suffix.lower() in (".json", ".jsonl"):
        with path.open(encoding="utf-8-sig") as handle:
            if _starts_json_array(handle):
                return f"record {number} of the JSON array"
    return f"line {number}"


def _starts_json_array(handle) -> bool:
    """Whether the open text file's first non-blank character opens an array; the file is read from its start after."""
    first = handle.read(1)
    while first.isspace():
        first = handle.read(1)
    handle.seek(0)
    return first == "["


def iter_records(path: Path, option: str) -> Iterator[tuple[int, dict]]:
    """(line number, record) of a `.csv` file (with a header row) or a `.json`/`.jsonl` file of JSON Lines; (record
    number, record) of a `.json` file holding one JSON array of objects (`where` words it for errors)."""
    existing_file(path, option)
    if path.suffix.lower() == ".csv":
        yield from _csv_records(path, option)
        return
    with path.open(encoding="utf-8-sig") as handle:
        if _starts_json_array(handle):
            yield from enumerate(_json_array(handle, path, option), start=1)
            return
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, _json_object(line, path, number, option)


def _json_array(handle, path: Path, option: str) -> list[dict]:
    try:
        records = json.load(handle)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{option}: {path} line {error.lineno} is not valid JSON ({error.msg}); fix that "
                          "line.") from error
    if not all(isinstance(r, dict) for r in records):
        raise ConfigError(f"{option}: {path} must hold JSON objects (one per example); found other values.")
    return records


def _json_object(line: str, path: Path, number: int, option: str) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{option}: {path} line {number} is not valid JSON ({error.msg}); write one JSON object "
                          "per line (JSON Lines).") from error
    if not isinstance(record, dict):
        raise ConfigError(f"{option}: {path} line {number} is not a JSON object; write one object per line.")
    return record


def _csv_records(path: Path, option: str) -> Iterator[tuple[int, dict]]:
    """Strict CSV: a record with more or fewer fields than the header (an unquoted comma in the text, a missing
    column) and a quote left open to the end of the file are errors naming the line, never text silently cut off or
    merged into one example."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, strict=True)
        try:
            for record in reader:
                extra = record.get(None) or []  # csv.DictReader's restkey and restval
                missing = sum(value is None for key, value in record.items() if key is not None)
                if extra or missing:
                    fields = len(reader.fieldnames) + len(extra) - missing
                    raise ConfigError(f"{option}: {path} line {reader.line_num} has {fields} fields but the header "
                                      f"has {len(reader.fieldnames)} ({', '.join(reader.fieldnames)}); quote a field "
                                      "that holds a comma, or use a .jsonl or .txt file.")
                yield reader.line_num, record
        except csv.Error as error:
            if "unexpected end of data" in str(error):
                raise ConfigError(f"{option}: {path} line {reader.line_num + 1} opens a quote that is never closed "
                                  "(it runs to the end of the file); fix the quoting of that line.") from None
            raise ConfigError(f"{option}: {path} line {reader.line_num + 1} cannot be read as CSV ({error}); fix that "
                              "line, or use a .txt file for very long texts.") from error
        except UnicodeDecodeError as error:
            raise ConfigError(f"{option}: {path} line {reader.line_num + 1} is not valid UTF-8; re-save the file as "
                              "UTF-8.") from error
