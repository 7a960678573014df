"""One LightningDataModule per corpus; shared reading, tokenizing and caching in `base`, masking in `collators`."""

from data_modules.mrpc import MRPCDataModule
from data_modules.streaming_text import StreamingTextDataModule
from data_modules.text_file import CustomTextDataModule
from data_modules.translation import TranslationTextDataModule
from data_modules.wikitext2 import WikiText2DataModule

__all__ = [
    "CustomTextDataModule",
    "MRPCDataModule",
    "StreamingTextDataModule",
    "TranslationTextDataModule",
    "WikiText2DataModule",
]
