"""Parsing the command line: LightningCLI's subclass, what the user typed and in which order it counts, config
files and their help, the checks made before anything is built, and one sentence for every parser error."""
