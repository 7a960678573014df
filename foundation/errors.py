"""The one exception type for mistakes a user can fix by changing an option or a file."""


class ConfigError(ValueError):
    """A bad option or input file, found before anything is written.

    The message is one sentence that names the option or file the user typed and says what to do instead; the CLI
    prints it without a traceback and exits with status 2.
    """
