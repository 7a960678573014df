"""Functions named in a config (ThroughputMonitor's `batch_size_fn` / `length_fn`), checked before training.

A config file is something people download and share, and jsonargparse imports what it names: the module of each
`class_path` (to check the class is of the type the option takes) and of each function-valued option. So a
function option is checked before anything is built: it must come from outside Python's standard library (no
standard function counts a batch; this refuses `os.system`, `shutil.rmtree`, `builtins.exec` and the like without
ever calling them) and take one argument. A `fit` then calls it once on a real training batch before the first step
(`check_on_batch`); it must return a count. Each refusal is one sentence naming the option.
"""

from __future__ import annotations

import inspect
import numbers
import sys
from collections.abc import Callable

import torch

from foundation.errors import ConfigError

STANDARD_LIBRARY = frozenset(sys.stdlib_module_names) | {"builtins"}
EXAMPLES = {"batch_size_fn": "data_modules.collators.batch_size", "length_fn": "data_modules.collators.token_count"}


def config_callables(trainer_config) -> list[tuple[str, Callable]]:
    """(option as the user reads it, function) for each function-valued setting of the config's callbacks."""
    found = []
    for callback in trainer_config.get("callbacks") or []:
        init = getattr(callback, "init_args", None)
        owner = str(getattr(callback, "class_path", "")).rsplit(".", 1)[-1]
        for name, value in (vars(init).items() if init is not None else ()):
            if callable(value) and not isinstance(value, type):
                found.append((f"trainer.callbacks {owner} {name}", value))
    return found


def check_sources(callables: list[tuple[str, Callable]]) -> None:
    """Before anything is built: where each function comes from, and that it takes one argument."""
    for option, function in callables:
        name = _dotted(function)
        module = str(getattr(function, "__module__", None) or "builtins")
        if module.split(".")[0] in STANDARD_LIBRARY:
            raise ConfigError(f"{option}: {name} is a function of Python's standard library, which does not take a "
                              f"batch and is never run from a config; {_fix(option)}.")
        try:
            inspect.signature(function).bind(object())
        except TypeError:
            raise ConfigError(f"{option}: {name} does not take a batch as its one argument; {_fix(option)}.") from None
        except ValueError:  # a compiled function without a signature: the call on a real batch decides
            continue


def check_on_batch(callables: list[tuple[str, Callable]], batch) -> None:
    """Each function called once on a real training batch: it must return a count (a number, 0 or more)."""
    for option, function in callables:
        try:
            result = function(batch)
        except Exception as error:
            raise ConfigError(f"{option}: {_dotted(function)} failed on a real training batch ({type(error).__name__}: "
                              f"{str(error)[:80]}); {_fix(option)}.") from None
        if isinstance(result, torch.Tensor) and result.numel() == 1:
            result = result.item()
        if isinstance(result, bool) or not isinstance(result, numbers.Real) or result < 0:
            raise ConfigError(f"{option}: {_dotted(function)} returned {type(result).__name__} {str(result)[:40]!r} "
                              f"for a real training batch, not a count; {_fix(option)}.")


def _dotted(function: Callable) -> str:
    module = str(getattr(function, "__module__", None) or "builtins")
    module = {"posix": "os", "nt": "os"}.get(module, module)  # os.system reports the module that implements it
    return f"{module}.{getattr(function, '__qualname__', function)}"


def _fix(option: str) -> str:
    example = EXAMPLES.get(option.rsplit(" ", 1)[-1])
    return "name a function that takes a batch and returns a count" + (f", such as {example}" if example else "")
