"""Render the measured figures in README.md, docs/ and bench/README.md from their JSON records.

    python -m bench.render_docs           # rewrite every rendered block from bench/results/records/*.json
    python -m bench.render_docs --check   # exit 1 and list what is stale, unrecorded or a placeholder

A rendered block sits between `<!-- render: KIND NAME [ARG] -->` and `<!-- /render -->`; KIND picks a renderer
below, NAME the record. Outside those blocks the docs hold no measured figure: `check` lists every placeholder,
every stale block, and every decimal number in prose (code spans and code blocks aside) that neither a record, nor the
reference recipes, nor pyproject.toml, nor a JSON file its own paragraph names holds. A paragraph names a result by
its file (`mlm.json`, `bench/results/mlm.json`) or an earlier version of it (`git show 431570a:bench/results/mlm.json`);
scoping the search to those files is what keeps a figure from passing because some other measurement happens to
round to it.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from bench.records import PROJECT_ROOT, RECORDS_DIR, all_records, git

BLOCK = re.compile(r"(<!-- render: (\w+) ([\w.-]+)(?: ([^>]*?))? -->\n)(.*?)(<!-- /render -->)", re.S)
PLACEHOLDER = re.compile(r"\b(?:[A-Z]{3,}_[A-Z_]{3,}|TODO|TBD|FIXME|XXX)\b")
FIGURE = re.compile(r"(?<![\w.-])(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d{2,})(?=x?(?![\w.]))")  # 2.16x: a ratio
# A result file a paragraph names, optionally at a commit: (commit or "", path or bare file name).
CITATION = re.compile(r"(?:git\s+show\s+([0-9a-f]{7,40}):)?((?:bench/results/)?[\w./-]*?[\w-]+\.json)\b")
# Numbers that are settings or facts of the shipped data, not measurements: each with what it is.
NOT_MEASURED = {
    "30,522": "bert-base-uncased's vocabulary size (the embedded model's tokenizer)",
    "8,000": "the default size of a trained WordPiece/BPE vocabulary (--data.vocab_size)",
    "1,200": "lines in the shipped custom-text sample's training part (data/PROVENANCE.md)",
    "3,668": "rows of GLUE MRPC train.tsv",
    "2,000": "optimizer steps of the causal-LM recipe",
}
# Code (fenced, indented or in backticks), comments, link targets, and the tables other renderers own
# (`<!-- NAME:start|begin ... -->` ... `<!-- NAME:end -->`: bench/render_tables.py's, bench/reproduce_render.py's)
# are not prose.
_TABLES = re.compile(r"<!-- ([\w-]+):(?:start|begin)\b.*?<!-- \1:end -->", re.S)
_FENCED = re.compile(r"```.*?```", re.S)  # removed before paragraphs are cut: a fence may hold blank lines
_NOT_PROSE = re.compile(_TABLES.pattern + "|" + _FENCED.pattern + r"|^(?: {4}|\t).*?$|`[^`\n]*`|<!--.*?-->|\]\([^)]*\)",
                        re.S | re.M)


def documents() -> list[Path]:
    return [PROJECT_ROOT / "README.md", PROJECT_ROOT / "bench" / "README.md",
            *sorted((PROJECT_ROOT / "docs").glob("*.md"))]


def _provenance(record: dict) -> str:
    machine = record["machine"]
    load = record.get("other_load")
    load = f", other load {load:.0%}" if isinstance(load, (int, float)) else ""
    return (f"Recorded {record['date']} at commit `{record['commit']}` on {machine['cpu']} ({machine['cores']} cores, "
            f"{machine.get('gpu') or 'no GPU'}), wall {record['wall_s']:.0f} s{load}: `{record['command']}` "
            f"(`bench/results/records/{record['name']}.json`).")


def render_validation(record: dict, _arg: str) -> str:
    """One row per evaluation step: every val/ scalar the run logged."""
    tags = [tag for tag in record["scalars"] if tag.startswith("val/")]
    steps = sorted({step for tag in tags for step, _ in record["scalars"][tag]})
    values = {tag: dict((step, value) for step, value in record["scalars"][tag]) for tag in tags}
    lines = ["| optimizer step | " + " | ".join(tag.removeprefix("val/") for tag in tags) + " |",
             "|---" * (len(tags) + 1) + "|"]
    for step in steps:
        cells = [_number(values[tag].get(step)) for tag in tags]
        lines.append(f"| {step}{' (before training)' if step == 0 else ''} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + _provenance(record) + "\n"


def render_console(record: dict, start: str) -> str:
    """The printed lines from the one containing `start` to the end of its indented run."""
    lines = record["console"]
    first = next((i for i, line in enumerate(lines) if start in line), None)
    if first is None:
        raise ValueError(f"record {record['name']} printed no line containing {start!r}")
    block = [lines[first]] + [line for line in _indented_after(lines, first)]
    return "```\n" + "\n".join(block) + "\n```\n"


def _indented_after(lines: list[str], first: int):
    for line in lines[first + 1:]:
        if not line.startswith("  "):
            return
        yield line


def _number(value) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.4f}"


RENDERERS = {"validation": render_validation, "console": render_console}


def render(text: str, records: dict[str, dict]) -> str:
    def block(match: re.Match) -> str:
        head, kind, name, arg, _, tail = match.groups()
        if name not in records:
            raise KeyError(f"a block renders record {name!r}, which bench/results/records/ does not hold")
        return head + RENDERERS[kind](records[name], (arg or "").strip()) + tail
    return BLOCK.sub(block, text)


def spellings(text: str) -> set[str]:
    """Every number in `text`, spelled the ways docs write numbers (raw, rounded, with thousands commas)."""
    numbers = {float(token.replace(",", "")) for token in re.findall(r"-?\d[\d,]*\.?\d*(?:e-?\d+)?", text)
               if token.replace(",", "").strip("-.")}
    spelled = set()
    for number in numbers:
        for digits in range(5):
            spelled |= {f"{number:.{digits}f}", f"{number:,.{digits}f}", f"{abs(number):.{digits}f}"}
    return spelled


def project_figures(records: dict[str, dict]) -> set[str]:
    """Figures any paragraph may quote: the records', the reference recipes' published ones, pyproject's bounds."""
    texts = [json.dumps(record) for record in records.values()]
    for path in (PROJECT_ROOT.parent / "shared" / "RECIPES.md", PROJECT_ROOT / "pyproject.toml"):
        texts += [path.read_text()] if path.is_file() else []
    return spellings("\n".join(texts))


def cited_text(commit: str, name: str) -> str | None:
    """The JSON a citation names (at `commit` when given), None when no such result file exists."""
    paths = [name] if name.startswith("bench/") else [f"bench/results/{name}", f"bench/results/records/{name}"]
    if not commit:
        return next(((PROJECT_ROOT / path).read_text() for path in paths if (PROJECT_ROOT / path).is_file()), None)
    shown = (git("show", f"{commit}:{path}") for path in paths)
    return next((result.stdout for result in shown if result.returncode == 0), None)


def paragraph_problems(paragraph: str, allowed: set[str]) -> list[str]:
    """The paragraph's unrecorded figures and the result files it names that do not exist."""
    problems, allowed = [], set(allowed)
    for commit, name in CITATION.findall(paragraph):
        if commit and git("cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
            return []  # a clone without that commit (a shallow one) cannot check this paragraph; a full clone does
        text = cited_text(commit, name)
        if text is not None:
            allowed |= spellings(text)
        elif commit or name.startswith("bench/"):  # a bare name that is no result file is another kind of file
            problems.append(f"cites {commit + ':' if commit else ''}{name}, which does not exist")
    prose = _NOT_PROSE.sub(" ", paragraph)
    problems += [f"figure {token} is in no record this paragraph names" for token in FIGURE.findall(prose)
                 if token not in allowed and token.replace(",", "") not in allowed and token not in NOT_MEASURED]
    return problems


def check(paths: list[Path] | None = None, records: dict[str, dict] | None = None) -> list[str]:
    records = all_records() if records is None else records
    figures, problems = project_figures(records), []
    for path in paths or documents():
        text = path.read_text()
        name = path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path
        try:
            if render(text, records) != text:
                problems.append(f"{name}: rendered blocks are stale; run python -m bench.render_docs")
        except (KeyError, ValueError) as error:
            problems.append(f"{name}: {error.args[0]}")
        outside_blocks = BLOCK.sub(" ", text)
        prose = _NOT_PROSE.sub(" ", outside_blocks)
        problems += [f"{name}: placeholder {token!r}" for token in PLACEHOLDER.findall(prose)]
        for paragraph in re.split(r"\n\s*\n|\n(?=- )", _FENCED.sub(" ", _TABLES.sub(" ", outside_blocks))):
            problems += [f"{name}: {problem}" for problem in paragraph_problems(paragraph, figures)]
    return problems


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report problems; exit 1 if there are any")
    options = parser.parse_args(argv)
    if not options.check:
        records = all_records(RECORDS_DIR)
        for path in documents():
            text = path.read_text()
            if render(text, records) != text:
                path.write_text(render(text, records))
                print(f"rendered {path.relative_to(PROJECT_ROOT)}")
    problems = check()
    print("\n".join(problems) or "every figure has a record")
    raise SystemExit(1 if problems else 0)


if __name__ == "__main__":
    main()
