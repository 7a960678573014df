"""Our code calls the libraries' current APIs: building and stepping a model warns of no deprecation (the test run
no longer hides DeprecationWarning, and this turns the FutureWarning transformers uses for renames into a failure)."""

from __future__ import annotations

import warnings

import torch

from models import MaskedLanguageModel


def test_gradient_checkpointing_uses_the_current_transformers_api(tiny_bert):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        warnings.simplefilter("error", FutureWarning)
        model = MaskedLanguageModel(model_config=tiny_bert, gradient_checkpointing=True)
        ids = torch.randint(5, 100, (2, 8))
        model.model.train()
        model.model(input_ids=ids, labels=ids).loss.backward()
    assert model.model.is_activation_checkpointing
