"""Figures logged to TensorBoard's Images tab."""

from __future__ import annotations

import torch


def confusion_figure(confusion: torch.Tensor, names: tuple[str, str] = ("not", "para")):
    """A matplotlib figure of a (2, 2) confusion matrix (rows = true label, columns = prediction)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(3.2, 3.0), dpi=100)
    axes.imshow(confusion.numpy(), cmap="Blues")
    for (row, col), count in zip([(0, 0), (0, 1), (1, 0), (1, 1)], confusion.flatten().tolist()):
        axes.text(col, row, str(count), ha="center", va="center",
                  color="white" if count > confusion.max().item() / 2 else "black")
    axes.set_xticks([0, 1], list(names))
    axes.set_yticks([0, 1], list(names))
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    figure.tight_layout()
    return figure
