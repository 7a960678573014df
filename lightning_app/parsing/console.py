"""A quiet console: no third-party advertisements, no warnings about code that is not the user's to fix."""

from __future__ import annotations

import logging
import sys
import warnings

from lightning.pytorch.utilities import rank_zero_only


class _DropAdvertisements(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith("💡 Tip")


def quiet_console() -> None:
    """Drop Lightning's LitLogger tip and deprecation warnings raised inside our dependencies (torchdata's
    `set_vital`, Lightning's pytree helper): the user cannot act on them. Our own warnings stay."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropAdvertisements) for f in logger.filters):
            logger.addFilter(_DropAdvertisements())
    warnings.filterwarnings("ignore", message=".*'set_vital' is deprecated.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    # our CLI passes the arguments it rebuilt from a checkpoint explicitly; LightningCLI warns about any such call
    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter is intended.*")


def rank_zero_info_stderr(line: str) -> None:
    """A line for the user on stderr, once: DDP ranks re-run the command line."""
    if rank_zero_only.rank == 0:
        print(line, file=sys.stderr)
