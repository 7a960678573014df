"""One LightningDataModule per corpus; shared reading, tokenizing and caching in `base`, masking in `collators`."""

from data_modules.text_file import CustomTextDataModule

__all__ = ["CustomTextDataModule"]
