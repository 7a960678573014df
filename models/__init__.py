"""One LightningModule per task, all on `task_module.TaskModule` (optimizer surface, data contract, reporting).

The pieces that are ours sit in small modules beside them: `sparse_mlm_head`, `bce_term`, `special_tokens`,
`building` (pretrained directory or config dict), `optimization` (parameter groups and schedule), `figures`.
"""

from models.causal_lm import CausalLanguageModel
from models.masked_lm import MaskedLanguageModel
from models.sequence_classifier import SequenceClassifier

__all__ = ["CausalLanguageModel", "MaskedLanguageModel", "SequenceClassifier"]
