"""`python main.py fit --config X --help`: the options of the model and data module that X chooses (and the
trainer's), with type, default, the config's value and documentation, without importing torch or Lightning.

Measured reason for not asking jsonargparse: LightningCLI's help must import Lightning first (`import lightning` alone
takes 6.7 s on the project machine, `fit --help` 9.5 s) and lists a subclass-mode section as two `--model.help CLASS`
lines. So the options are read from the classes' source with `ast`, the way jsonargparse reads a signature: the
constructor's parameters, the parent's too when `**kwargs` is passed on, and the `Args:` entries of the docstrings.
tests/lightning_app/test_config_help.py checks that they are exactly the options jsonargparse builds, for every
shipped config.
"""

from __future__ import annotations

import ast
import importlib.util
import textwrap
from dataclasses import dataclass
from pathlib import Path

SEARCHED_FOR_SHORT_NAMES = ("models", "data_modules")  # where `--model MaskedLanguageModel` finds its class
TRAINER = "lightning.pytorch.trainer.trainer.Trainer"


@dataclass
class Option:
    name: str
    annotation: str
    default: str | None  # None: required
    doc: str


@dataclass
class ClassSource:
    class_path: str
    node: ast.ClassDef
    module: str
    tree: ast.Module


def find_class(class_path: str, depth: int = 0) -> ClassSource:
    """The class's definition, following `from x import Name` re-exports; a bare name is looked up among the
    project's packages. Raises LookupError when there is none."""
    if "." not in class_path:
        for package in SEARCHED_FOR_SHORT_NAMES:
            try:
                return find_class(f"{package}.{class_path}", depth)
            except LookupError:
                continue
        raise LookupError(class_path)
    module, name = class_path.rsplit(".", 1)
    tree = _module_tree(module)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return ClassSource(class_path, node, module, tree)
    source = _imported_from(tree, module, name)
    if source is None or depth > 8:
        raise LookupError(class_path)
    return find_class(f"{source}.{name}", depth + 1)


def options_in_source(source: ClassSource) -> list[Option]:
    """The constructor's options in signature order, then those its `**kwargs` passes to the parent."""
    init = next((n for n in source.node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    parent = _parent(source)
    if init is None:
        return options_in_source(parent) if parent else []
    docs = {**_args_section(ast.get_docstring(init)), **_args_section(ast.get_docstring(source.node))}
    arguments = init.args
    positional = arguments.posonlyargs + arguments.args
    defaults = [None] * (len(positional) - len(arguments.defaults)) + list(arguments.defaults)
    pairs = list(zip(positional, defaults)) + list(zip(arguments.kwonlyargs, arguments.kw_defaults))
    options = [Option(arg.arg, ast.unparse(arg.annotation) if arg.annotation else "",
                      None if default is None else ast.unparse(default), docs.get(arg.arg, ""))
               for arg, default in pairs if arg.arg != "self"]
    if arguments.kwarg is not None and parent is not None:
        names = {option.name for option in options}
        options += [option for option in options_in_source(parent) if option.name not in names]
    return options


def _parent(source: ClassSource) -> ClassSource | None:
    """The first base class, where its source can be found (Lightning's own bases add no options)."""
    if not source.node.bases:
        return None
    base = ast.unparse(source.node.bases[0])
    if base in ("L.LightningModule", "L.LightningDataModule", "LightningModule", "LightningDataModule"):
        return None
    name = base.rsplit(".", 1)[-1]
    if any(isinstance(n, ast.ClassDef) and n.name == name for n in source.tree.body):
        return find_class(f"{source.module}.{name}")
    module = _imported_from(source.tree, source.module, name)
    try:
        return find_class(f"{module}.{name}") if module else None
    except LookupError:
        return None


def _module_tree(module: str) -> ast.Module:
    """Parsed source of `module`, located without importing it (or its package, which would import torch)."""
    top, *rest = module.split(".")
    spec = importlib.util.find_spec(top)
    if spec is None or spec.origin is None:
        raise LookupError(module)
    path = Path(spec.origin).parent if spec.submodule_search_locations else Path(spec.origin)
    for part in rest:
        path = path / part
    file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    if not file.is_file():
        raise LookupError(module)
    return ast.parse(file.read_text(encoding="utf-8"))


def _imported_from(tree: ast.Module, module: str, name: str) -> str | None:
    """The module a `from ... import name` at the top of `tree` takes `name` from (relative imports resolved)."""
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == name for a in node.names):
            if node.level == 0:
                return node.module
            package = module.split(".")
            base = package[: len(package) - node.level + (1 if _is_package(module) else 0)]
            return ".".join(base + ([node.module] if node.module else []))
    return None


def _is_package(module: str) -> bool:
    try:
        top, *rest = module.split(".")
        spec = importlib.util.find_spec(top)
        return spec is not None and spec.origin is not None and \
            (Path(spec.origin).parent.joinpath(*rest) / "__init__.py").is_file()
    except (ImportError, ValueError):
        return False


def _args_section(docstring: str | None) -> dict[str, str]:
    """{name: text} from a Google-style `Args:` section (continuation lines joined)."""
    entries: dict[str, str] = {}
    lines = (docstring or "").splitlines()
    if "Args:" not in [line.strip() for line in lines]:
        return entries
    start = [line.strip() for line in lines].index("Args:") + 1
    indent, current = None, None
    for line in lines[start:]:
        if not line.strip():
            continue
        width = len(line) - len(line.lstrip())
        indent = width if indent is None else indent
        if width < indent:
            break
        if width == indent and ":" in line:
            current, text = line.strip().split(":", 1)
            current = current.split(" ")[0]
            entries[current] = text.strip()
        elif current is not None:
            entries[current] += " " + line.strip()
    return entries


def render(line) -> str | None:
    """The help text for a `CommandLine` whose config files (or typed `--model`/`--data`) choose the classes; None
    when a class's source cannot be found (LightningCLI's own help answers then)."""
    import yaml

    config: dict = {}
    for name in line.config_files:
        _merge(config, yaml.safe_load(Path(name).read_text(encoding="utf-8")) or {})
    for section in ("model", "data"):
        if section in line.values:  # a class typed on the command line wins over the config's
            config[section] = {"class_path": line.values[section]}
    out = [f"Options of the classes that {' + '.join(line.config_files) or 'the command line'} chooses, with the "
           f"config's values (all options: python main.py {line.subcommand} --help)."]
    for section in ("model", "data"):
        chosen = config.get(section)
        class_path = chosen.get("class_path") if isinstance(chosen, dict) else chosen
        if not class_path:
            continue
        try:
            source = find_class(class_path)
        except LookupError:
            return None
        summary = (ast.get_docstring(source.node) or "").split("\n")[0]
        out += ["", *textwrap.wrap(f"--{section} {class_path}: {summary}", 120, subsequent_indent="    ")]
        set_here = (chosen.get("init_args") or {}) if isinstance(chosen, dict) else {}
        out += _option_lines(section, options_in_source(source), set_here)
    trainer = config.get("trainer") or {}
    if trainer:
        documented = {option.name: option for option in options_in_source(find_class(TRAINER))}
        out += ["", "--trainer (set by the config; every option: python main.py fit --help):"]
        out += _option_lines("trainer", [documented[k] for k in trainer if k in documented], trainer)
    return "\n".join(out)


def _option_lines(section: str, options: list[Option], set_here: dict) -> list[str]:
    lines = []
    for option in options:
        what = "required" if option.default is None else f"default {option.default}"
        if option.name in set_here:
            what += f"; config: {_short(set_here[option.name])}"
        lines.append(f"  --{section}.{option.name} ({option.annotation or 'any'}; {what})")
        if option.doc:
            lines += textwrap.wrap(option.doc, 116, initial_indent=" " * 6, subsequent_indent=" " * 6)
    return lines


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _merge(into: dict, update: dict) -> None:
    """Later config files win, section by section (as jsonargparse merges them)."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict) and key not in ("callbacks",):
            if value.get("class_path") in (None, into[key].get("class_path")):
                _merge(into[key], value)
            else:
                into[key] = value
        else:
            into[key] = value
