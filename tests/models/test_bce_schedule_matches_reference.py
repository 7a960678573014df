"""The shipped causal-LM config's BCE weight schedule reproduces the weights the reference recipe logged, and the
previous schedule stays available by name."""


import pytest
import yaml
from conftest import PROJECT_ROOT

from models import CausalLanguageModel
from models.bce_term import bce_weight_at, lagged_bce_weight_at, scheduled_bce_weight

REFERENCE_LOGGED = {0: 0.0005, 400: 0.085, 1000: 0.255, 1500: 0.353, 2000: 0.44}  # ../shared/RECIPES.md, recipe E


def _shipped_model() -> CausalLanguageModel:
    init_args = yaml.safe_load((PROJECT_ROOT / "configs" / "tr_en_bce_lm.yaml").read_text())["model"]["init_args"]
    return CausalLanguageModel(**init_args)  # no vocab_size yet: the network is built later, so this is cheap


def _weight(hp, step: int) -> float:
    return scheduled_bce_weight(step, hp.bce_schedule, hp.bce_start, hp.bce_max, hp.bce_warmup_steps,
                                hp.bce_boost_span, hp.bce_lag_steps)


@pytest.mark.parametrize("step, logged", sorted(REFERENCE_LOGGED.items()))
def test_shipped_config_weight_matches_reference_log(step, logged):
    hp = _shipped_model().hparams
    assert hp.bce_schedule == "lagged"
    assert _weight(hp, step) == pytest.approx(logged, abs=0.01)


def test_linear_schedule_is_the_named_alternative_and_differs():
    hp = _shipped_model().hparams
    hp.bce_schedule = "linear"
    assert [_weight(hp, s) for s in (400, 1000, 2000)] == pytest.approx([0.26, 0.35, 0.5])
    assert abs(_weight(hp, 400) - REFERENCE_LOGGED[400]) > 0.1  # the reason the lagged one is the default


def test_lagged_weight_is_the_leaky_integral_of_the_linear_one():
    weight = 0.0
    for step in range(2600):  # past the end of the ramp: the closed-form tail must continue the same recursion
        weight += (bce_weight_at(step) - weight) / 420
        assert lagged_bce_weight_at(step) == pytest.approx(weight, rel=1e-9, abs=1e-12)
    assert lagged_bce_weight_at(20_000) == pytest.approx(0.5)
    assert lagged_bce_weight_at(700, lag_steps=1) == pytest.approx(bce_weight_at(700))
