"""Runs and checkpoints: run directories claimed atomically, safe checkpoint loading and writing, the checkpoint's
recorded settings as the config, rebuilding a run from a checkpoint alone, strategies."""
