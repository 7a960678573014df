"""Finding a corpus file and reading it strictly, in bounded memory, whatever its shape.

Data resolution is the same for every corpus: an explicit file or `data_dir` first; else `../shared/data` beside
the project; else the small samples shipped in the project's `data/`; else (public corpora only) the canonical
Hugging Face dataset when the Hub answers; else one sentence naming the option to set.

Text is read in pieces of at most `PIECE_BYTES`: an ordinary line is one piece, a line longer than that (a 50 MB
file without a newline) arrives as consecutive pieces cut at whitespace, with a warning naming the file and line.
Nothing downstream ever holds more than a piece of one line plus a chunk of lines at once.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_warn

from foundation.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SEARCH_ROOTS = (PROJECT_ROOT.parent / "shared" / "data", PROJECT_ROOT / "data")
PIECE_BYTES = 1 << 20  # longest run of one line read (and later tokenized) at once


def user_path(value: str | None, option: str) -> str | None:
    """A path the user gave, made absolute so that a checkpoint records where its data really was; an empty one is
    refused (`Path("")` is the current directory, which would be reported as a directory)."""
    if value is None:
        return None
    if not str(value).strip():
        raise ConfigError(f"{option} is empty; pass a path, or leave the option out.")
    return str(Path(value).expanduser().absolute())


def resolve_data_file(explicit: str | None, data_dir: str | None, relative: str, option: str) -> Path:
    """Find one corpus file by the project's resolution order, or raise a `ConfigError` naming `option`.

    Args:
        explicit: the file the user named (wins over everything).
        data_dir: a directory that holds `relative`'s file name.
        relative: the file's path below a data root, e.g. `custom-txt/train.txt`.
        option: the option to name in the error, e.g. `--data.train_file`.
    """
    if explicit is not None:
        return existing_file(Path(explicit).expanduser(), option)
    if data_dir is not None:
        folder = Path(data_dir).expanduser()
        if not folder.is_dir():
            raise ConfigError(f"--data.data_dir: {str(folder)!r} is not a directory; pass the folder that holds "
                              f"{Path(relative).name}.")
        path = folder / Path(relative).name
        if not path.is_file():
            raise ConfigError(f"--data.data_dir: {str(path)!r} does not exist; point data_dir at the folder that "
                              f"holds {Path(relative).name}.")
        return path
    for root in SEARCH_ROOTS:
        if (root / relative).is_file():
            return root / relative
    raise ConfigError(f"{option} is not set and {relative} was found neither in ../shared/data nor in the project's "
                      f"data/; pass {option} /path/to/{Path(relative).name}.")


def existing_file(path: Path, option: str) -> Path:
    """`path` if it is a readable file; otherwise one sentence saying what it is instead."""
    if path.is_dir():
        raise ConfigError(f"{option}: {str(path)!r} is a directory, not a file; pass the path of the file itself.")
    if path.exists() and not path.is_file():
        raise ConfigError(f"{option}: {str(path)!r} is not a regular file (a device, pipe or socket); pass the path "
                          "of a text file.")
    if not path.is_file():
        raise ConfigError(f"{option}: file {str(path)!r} does not exist; pass the path of an existing file.")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as error:
        raise ConfigError(f"{option}: {str(path)!r} cannot be read ({error.strerror}); fix its permissions or pass "
                          "another file.") from error
    return path


def read_text_lines(path: Path, option: str) -> list[str]:
    """All lines of a small UTF-8 file (TSV pairs, translation pairs), read strictly: a BOM and CRLF are accepted,
    NUL bytes, bad UTF-8 and empty files are named with the line."""
    lines: list[str] = []
    for number, text in iter_line_pieces(path, option, keep_blank=True):
        if number > len(lines):
            lines.append(text)
        else:  # a further piece of an over-long line
            lines[-1] += " " + text
    if not any(line.strip() for line in lines):
        raise ConfigError(f"{option}: {path} is empty; pass a file with text in it.")
    return lines


def iter_line_pieces(path: Path, option: str, keep_blank: bool = False) -> Iterator[tuple[int, str]]:
    """Yield (line number, stripped text) for each line, an over-long line as several pieces with one number.

    Pieces are cut at the last whitespace inside each `PIECE_BYTES` read, so no word is split; the first
    over-long line of a file is named in a warning.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    number, carry, warned, any_text = 1, "", False, False
    with existing_file(path, option).open("rb") as handle:
        while chunk := handle.readline(PIECE_BYTES):
            complete = chunk.endswith(b"\n")
            partial = not complete and len(chunk) == PIECE_BYTES  # more of this line follows
            text = carry + _decoded(chunk, decoder, partial, number, path, option)
            carry = ""
            if partial:
                if not warned:
                    rank_zero_warn(f"{option}: {path} line {number} is longer than {PIECE_BYTES:,} bytes; it is "
                                   "read and tokenized in pieces cut at whitespace.")
                    warned = True
                text, carry = _cut_at_whitespace(text)
            if text.strip() or keep_blank:
                any_text = any_text or bool(text.strip())
                yield number, text.strip()
            number += complete
        if carry.strip():
            yield number, carry.strip()
            any_text = True
    if not any_text and not keep_blank:
        raise ConfigError(f"{option}: {path} is empty; pass a file with text in it.")


def _decoded(chunk: bytes, decoder, partial: bool, number: int, path: Path, option: str) -> str:
    """One read of a line as text: the BOM dropped, NUL bytes and bad UTF-8 named with the line."""
    if number == 1:
        chunk = chunk.removeprefix(codecs.BOM_UTF8)
    if b"\x00" in chunk:
        raise ConfigError(f"{option}: {path} looks binary (line {number} contains NUL bytes); pass a UTF-8 text "
                          "file.")
    try:
        return decoder.decode(chunk, final=not partial)
    except UnicodeDecodeError as error:
        raise ConfigError(f"{option}: {path} line {number} is not valid UTF-8; re-save the file as UTF-8 (e.g. "
                          "`iconv -f latin1 -t utf-8`).") from error


def _cut_at_whitespace(text: str) -> tuple[str, str]:
    """(text up to its last whitespace, the partial word after it); the whole text if it has no whitespace."""
    cut = max(text.rfind(" "), text.rfind("\t"))
    return (text[:cut], text[cut:]) if cut > 0 else (text, "")


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
        piece, rest = _cut_at_whitespace(text[:limit])
        if piece.strip():
            yield piece.strip()
        text = rest + text[limit:]
    if text.strip():
        yield text.strip()


def where(path: Path, number: int) -> str:
    """How an error names the `number` that `iter_records` gave: a line, or a record of a JSON array."""
    if path.suffix.lower() in (".json", ".jsonl") and _starts_json_array(path):
        return f"record {number} of the JSON array"
    return f"line {number}"


def _starts_json_array(path: Path) -> bool:
    with path.open(encoding="utf-8-sig") as handle:
        first = handle.read(1)
        while first.isspace():
            first = handle.read(1)
    return first == "["


def iter_records(path: Path, option: str) -> Iterator[tuple[int, dict]]:
    """(line number, record) of a `.csv` file (with a header row) or a `.json`/`.jsonl` file of JSON Lines; (record
    number, record) of a `.json` file holding one JSON array of objects (`where` words it for errors)."""
    existing_file(path, option)
    if path.suffix.lower() == ".csv":
        yield from _csv_records(path, option)
        return
    if _starts_json_array(path):
        with path.open(encoding="utf-8-sig") as handle:
            yield from enumerate(_json_array(handle, path, option), start=1)
        return
    with path.open(encoding="utf-8-sig") as handle:
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
