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
                text, carry = cut_at_whitespace(text)
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


def cut_at_whitespace(text: str) -> tuple[str, str]:
    """(text up to its last whitespace, the partial word after it); the whole text if it has no whitespace."""
    cut = max(text.rfind(" "), text.rfind("\t"))
    return (text[:cut], text[cut:]) if cut > 0 else (text, "")
