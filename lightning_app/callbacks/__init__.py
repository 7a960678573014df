"""Callbacks of the application layer.

Every run gets these, each under its own config key (`always_on.py`; docs/design.md, "What every run gets";
`--KEY null` switches one off): `GracefulStop`, `DeterministicStepSeed`, `LoaderPositionOnResume`, `RunRecord`
(lightning_app/checkpointing/run_record.py), `FitSummary`, `ValidateAtLastStep`, `LastCheckpointAtEnd`,
`RunProgressBar` (unless the config names a progress bar), and `NonFiniteLossGuard`; evaluations add
`EvaluationRecord` / `PredictionFiles`.
Lightning's model summary is shown by `RunModelSummary` (no `Total FLOPs: 0`). The configs add the observational
ones by name: `GradNormMonitor`, `FillMaskSamples`, `StepThroughputMonitor`, `StepLearningRateMonitor`
(Lightning's monitors, logging at the optimizer step).
"""

from lightning_app.callbacks.always_on import ALWAYS_ON, add_always_on_arguments, always_on_callbacks
from lightning_app.callbacks.exact_resume import DeterministicStepSeed, LoaderPositionOnResume
from lightning_app.callbacks.final_checkpoint import LastCheckpointAtEnd
from lightning_app.callbacks.fit_summary import FitSummary
from lightning_app.callbacks.graceful_stop import GracefulStop, StopRequested
from lightning_app.callbacks.last_step import ValidateAtLastStep
from lightning_app.callbacks.monitors import GradNormMonitor, StepLearningRateMonitor, StepThroughputMonitor
from lightning_app.callbacks.nonfinite import NonFiniteLossError, NonFiniteLossGuard
from lightning_app.callbacks.outputs import EvaluationRecord, PredictionFiles
from lightning_app.callbacks.progress import RunModelSummary, RunProgressBar
from lightning_app.callbacks.run_config import SaveRunConfig
from lightning_app.callbacks.samples import FillMaskSamples

__all__ = [
    "ALWAYS_ON",
    "add_always_on_arguments",
    "always_on_callbacks",
    "DeterministicStepSeed",
    "EvaluationRecord",
    "FillMaskSamples",
    "FitSummary",
    "GracefulStop",
    "GradNormMonitor",
    "LastCheckpointAtEnd",
    "LoaderPositionOnResume",
    "NonFiniteLossError",
    "NonFiniteLossGuard",
    "PredictionFiles",
    "RunModelSummary",
    "RunProgressBar",
    "SaveRunConfig",
    "StepLearningRateMonitor",
    "StepThroughputMonitor",
    "StopRequested",
    "ValidateAtLastStep",
]
