"""Shared fixtures: real data from ../shared/data, a tiny BERT config, an isolated cache, offline Hub."""

from __future__ import annotations

import os
from pathlib import Path

# Imported before any test captures output, so Lightning's log handlers keep the real stderr (as in a terminal) and
# tests that read an `error:` line from captured stderr see only that line.
import lightning  # noqa: F401
import pytest
from bad_input_table import bad_input_table, pytest_addoption, pytest_sessionfinish  # noqa: F401 (fixture, hooks)
from paths import PROJECT_ROOT, SHARED_DATA  # noqa: F401 (imported by the tests from here)

# A Trainer for tests: CPU, and nothing written or drawn (no logger, checkpoints, progress bar or summary).
TINY_TRAINER = {"accelerator": "cpu", "logger": False, "enable_checkpointing": False, "enable_progress_bar": False,
                "enable_model_summary": False}


def tiny_trainer(**settings) -> lightning.Trainer:
    """`lightning.Trainer` with TINY_TRAINER's settings; `settings` add to or override them."""
    return lightning.Trainer(**{**TINY_TRAINER, **settings})


# Tiny from-scratch BERT over the embedded bert-base-uncased vocabulary: fast enough for CPU tests.
TINY_BERT = {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
             "intermediate_size": 64, "vocab_size": 30522, "max_position_embeddings": 64}


@pytest.fixture(autouse=True, scope="session")
def _offline_and_cached(tmp_path_factory):
    os.environ["HF_HUB_OFFLINE"] = "1"  # CI has no Hub; tests must never wait on it
    os.environ["LBT_CACHE_DIR"] = str(tmp_path_factory.mktemp("tokenized-cache"))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the shared data folder {SHARED_DATA} is missing; CI runs with ../shared beside the project")
    return SHARED_DATA


@pytest.fixture
def tiny_bert() -> dict:
    return dict(TINY_BERT)


@pytest.fixture
def small_text(tmp_path, shared_data) -> Path:
    """The first 120 non-blank lines of the real custom-text corpus, as a user's small .txt file."""
    from cli_helpers import write_small_text

    return write_small_text(tmp_path)


@pytest.fixture(scope="session")
def embedded_tokenizer():
    """The embedded model's bert-base-uncased WordPiece tokenizer (what every data module uses by default)."""
    from data_modules.tokenizer_loading import load_tokenizer

    return load_tokenizer(None)
