"""Training-history figures."""

from __future__ import annotations

from typing import Any

from .diagrams import _new_axes


def plot_training_history(history: Any, ax: Any = None, title: str | None = "Training") -> Any:
    """Loss (left axis) and accuracies (right axis) per epoch.

    Parameters
    ----------
    history : object with ``train_loss``, ``train_accuracy`` and ``test_accuracy`` lists
        E.g. :class:`topolens.models.TrainResult`.
    """
    fig, ax = _new_axes(ax, (6.0, 3.2))
    epochs = list(range(1, len(history.train_loss) + 1))
    ax.plot(epochs, history.train_loss, "o-", color="#444444", label="train loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    acc = ax.twinx()
    acc.plot(epochs, history.train_accuracy, "s-", color="#1f77b4", label="train accuracy")
    if history.test_accuracy:
        acc.plot(epochs, history.test_accuracy, "^-", color="#d62728", label="test accuracy")
    acc.set_ylabel("accuracy")
    acc.set_ylim(0, 1)
    lines = ax.get_lines() + acc.get_lines()
    ax.legend(lines, [ln.get_label() for ln in lines], loc="center right", fontsize=8)
    if title:
        ax.set_title(title)
    return fig
