"""Config files checked before LightningCLI reads them, so a YAML mistake names the file and the line."""

from __future__ import annotations

from pathlib import Path

from foundation.errors import ConfigError


def check_config_files(names: list[str | None]) -> None:
    """Raise one `ConfigError` for a config file (`CommandLine.config_files`: typed `--config`/`-c`, or
    `PL_<SUBCOMMAND>__CONFIG`) that is missing, not a file, or not valid YAML."""
    import yaml

    for name in names:
        if name is None:  # `--config` as the last word: jsonargparse reports the missing value
            continue
        path = Path(name)
        if not path.is_file():
            what = "is a directory" if path.is_dir() else "does not exist"
            raise ConfigError(f"--config {name} {what}; pass a YAML file such as configs/custom_mlm.yaml.")
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise ConfigError(f"--config {name}{where}: {problem}; fix the YAML there (indentation, a missing "
                              "colon or quote).") from None
        except UnicodeDecodeError:
            raise ConfigError(f"--config {name} is not UTF-8 text; pass a YAML file.") from None
        if document is not None and not isinstance(document, dict):
            raise ConfigError(f"--config {name} holds a {type(document).__name__}, not a mapping of options; write "
                              "`trainer:`, `model:`, `data:` sections.")
