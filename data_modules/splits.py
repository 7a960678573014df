"""The one rule that holds out a validation split when a corpus has none: every data module uses it.

`n_val = round_half_up(count * percentage / 100)` examples are held out: the first `n_val` positions of
`random.Random(seed).shuffle(range(count))`. Examples are lines (text corpora) or pairs (MRPC, translation: both
directions of a pair stay on the same side). The order is shuffled in an `array` of 4-byte ints, so a corpus of
100 million lines costs 400 MB here and nothing per line afterwards.
"""

from __future__ import annotations

import math
import random
from array import array

from foundation.errors import ConfigError


def held_out_count(count: int, percentage: float, option: str) -> int:
    """How many of `count` examples are held out; raises if either side would be empty."""
    n_val = math.floor(count * percentage / 100 + 0.5)
    if n_val < 1 or count - n_val < 1:
        side = "validation" if n_val < 1 else "training"
        raise ConfigError(f"{option}={percentage:g} of {count} examples leaves an empty {side} split; choose a "
                          "percentage that keeps at least one example on each side, or pass --data.validation_file.")
    return n_val


def held_out_mask(count: int, percentage: float, seed: int, option: str) -> bytearray:
    """`mask[i] == 1` when example `i` (0-based) goes to validation (see the module docstring)."""
    n_val = held_out_count(count, percentage, option)
    order = array("I", range(count))
    random.Random(seed).shuffle(order)  # the same permutation as shuffling a list
    mask = bytearray(count)
    for index in order[:n_val]:
        mask[index] = 1
    return mask


def check_percentage(percentage: float, option: str = "--data.validation_split_percentage") -> None:
    if not 0 < percentage < 100:
        raise ConfigError(f"{option}={percentage:g} is outside (0, 100); pass e.g. 5 (percent of the examples held "
                          "out), or pass --data.validation_file.")
