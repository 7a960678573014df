"""One LightningDataModule per corpus, all on one scaffold (`scaffold.TaskDataModule`).

Reading files: `reading`; the split rule: `splits`; tokenizing in chunks: `streaming_text`; the cache: `caching`;
batches and masking: `collators`.
"""

from data_modules.mrpc import MRPCDataModule
from data_modules.text_file import CustomTextDataModule, StreamingTextDataModule
from data_modules.translation import TranslationTextDataModule
from data_modules.wikitext2 import WikiText2DataModule

__all__ = [
    "CustomTextDataModule",
    "MRPCDataModule",
    "StreamingTextDataModule",
    "TranslationTextDataModule",
    "WikiText2DataModule",
]
