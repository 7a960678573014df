"""The one exception type for mistakes a user can fix by changing an option or a file."""


class ConfigError(ValueError):
    """A bad option or input file, found before training starts.

    The message is one sentence that names the option or file and says what to do instead; the CLI prints it
    without a traceback.
    """
