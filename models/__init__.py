"""One LightningModule per task; the architecture pieces that are ours sit in small modules beside them."""

from models.causal_lm import CausalLanguageModel
from models.masked_lm import MaskedLanguageModel
from models.sequence_classifier import SequenceClassifier

__all__ = ["CausalLanguageModel", "MaskedLanguageModel", "SequenceClassifier"]
