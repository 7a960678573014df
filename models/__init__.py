"""One LightningModule per task; the architecture pieces that are ours sit in small modules beside them."""

from models.masked_lm import MaskedLanguageModel

__all__ = ["MaskedLanguageModel"]
