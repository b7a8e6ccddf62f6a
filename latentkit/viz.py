"""Figures shared by the chapters: image grids, latent scatter plots, strips and widget helpers.

Every function draws into a matplotlib ``Axes`` (created when not given), titles it and labels its
axes, and returns it, so that chapters compose figures without copying plotting code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes

__all__ = [
    "image_grid",
    "show_images",
    "scatter_codes",
    "scatter_points",
    "plot_curves",
    "image_strip",
    "interactive_or_static",
]


def _to_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float32).numpy()
    return np.asarray(x, dtype=np.float32)


def image_grid(
    images: torch.Tensor | np.ndarray,
    nrow: int | None = None,
    value_range: tuple[float, float] = (0.0, 1.0),
    padding: int = 1,
) -> np.ndarray:
    """Tile a batch ``(N, C, H, W)`` into one ``(H', W', C)`` array in [0, 1] (``C`` is 1 or 3).

    Values are mapped from ``value_range`` to [0, 1] and clipped for display only.

    Example:
        >>> image_grid(torch.zeros(6, 1, 8, 8), nrow=3).shape
        (17, 26, 1)
    """
    from torchvision.utils import make_grid

    x = _to_numpy(images)
    if x.ndim != 4 or x.shape[1] not in (1, 3) or len(x) == 0:
        raise ValueError(f"image_grid: images must be (N >= 1, C, H, W) with C in (1, 3), got shape {tuple(x.shape)}")
    lo, hi = value_range
    if not hi > lo:
        raise ValueError(f"value_range must have lo < hi, got {value_range}")
    for name, v, low in (("nrow", nrow, 1), ("padding", padding, 0)):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < low):
            raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
    x = torch.from_numpy(np.clip((x - lo) / (hi - lo), 0.0, 1.0))
    n, c, h, w = x.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    if n == 1 and nrow == 1:  # make_grid returns a lone image as it is
        return x[0].permute(1, 2, 0).numpy().copy()
    blank = torch.ones(rows * nrow - n, c, h, w)  # empty cells: the colour of the gaps, as make_grid fills them
    grid = make_grid(torch.cat([x, blank]), nrow=nrow, padding=padding, pad_value=1.0)
    # make_grid also frames the grid and repeats one channel three times: keep the inside, in C channels
    grid = grid[
        :c, padding : padding + rows * (h + padding) - padding, padding : padding + nrow * (w + padding) - padding
    ]
    return np.ascontiguousarray(grid.permute(1, 2, 0).numpy())


def show_images(
    images: torch.Tensor | np.ndarray,
    title: str,
    nrow: int | None = None,
    value_range: tuple[float, float] = (0.0, 1.0),
    ax: Axes | None = None,
) -> Axes:
    """Draw a batch of images as a grid with a title (no axis ticks: the pixels are the content)."""
    ax = ax or plt.figure(figsize=(4, 4)).gca()
    grid = image_grid(images, nrow=nrow, value_range=value_range)
    ax.imshow(
        grid[..., 0] if grid.shape[-1] == 1 else grid,
        cmap="gray" if grid.shape[-1] == 1 else None,
        vmin=0.0,
        vmax=1.0,
        interpolation="nearest",
    )
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def image_strip(
    images: torch.Tensor | np.ndarray,
    title: str,
    labels: Sequence[str] | None = None,
    value_range: tuple[float, float] = (0.0, 1.0),
    ax: Axes | None = None,
    xlabel: str = "",
) -> Axes:
    """One row of images (an interpolation, a walk, a sweep) with an optional label under each."""
    x = _to_numpy(images)
    ax = ax or plt.figure(figsize=(1.2 * len(x), 1.6)).gca()
    show_images(x, title, nrow=len(x), value_range=value_range, ax=ax)
    if labels is not None:
        if len(labels) != len(x):
            raise ValueError(f"{len(labels)} labels for {len(x)} images")
        w = x.shape[-1] + 1
        ax.set_xticks([i * w + (w - 1) / 2 for i in range(len(x))])
        ax.set_xticklabels(labels)
    ax.set_xlabel(xlabel)
    return ax


def scatter_codes(
    codes: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray | None,
    title: str,
    ax: Axes | None = None,
    xlabel: str = "$z_1$",
    ylabel: str = "$z_2$",
    s: float = 6.0,
) -> Axes:
    """Scatter 2-D codes coloured by class, with a legend of the classes."""
    z = _to_numpy(codes)
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError(f"scatter_codes expects (N, >=2) codes, got shape {tuple(z.shape)}")
    ax = ax or plt.figure(figsize=(4.5, 4)).gca()
    if labels is None:
        ax.scatter(z[:, 0], z[:, 1], s=s, alpha=0.7)
    else:
        y = _to_numpy(labels).astype(int)
        cmap = plt.get_cmap("tab10")
        for k in np.unique(y):
            m = y == k
            ax.scatter(z[m, 0], z[m, 1], s=s, alpha=0.7, color=cmap(int(k) % 10), label=str(k))
        ax.legend(markerscale=2, fontsize="small", title="class", loc="best", ncol=2 if len(np.unique(y)) > 5 else 1)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def scatter_points(
    points: torch.Tensor | np.ndarray,
    title: str,
    ax: Axes | None = None,
    c: torch.Tensor | np.ndarray | None = None,
    s: float = 3.0,
    label: str | None = None,
    xlabel: str = "$x_1$",
    ylabel: str = "$x_2$",
    equal: bool = True,
    **kwargs,
) -> Axes:
    """Scatter a 2-D point set (optionally coloured by ``c``)."""
    p = _to_numpy(points)
    ax = ax or plt.figure(figsize=(4, 4)).gca()
    ax.scatter(p[:, 0], p[:, 1], s=s, c=None if c is None else _to_numpy(c), label=label, **kwargs)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if equal:
        ax.set_aspect("equal", adjustable="datalim")
    return ax


def plot_curves(
    history: Sequence[dict],
    keys: Sequence[str],
    title: str,
    ax: Axes | None = None,
    xlabel: str = "training step",
    ylabel: str = "value",
    logy: bool = False,
) -> Axes:
    """Plot metrics logged as ``[{"step": ..., key: ...}, ...]`` against the step."""
    ax = ax or plt.figure(figsize=(5, 3.2)).gca()
    for key in keys:
        rows = [(h["step"], h[key]) for h in history if key in h and h[key] is not None]
        if not rows:
            raise KeyError(f"no logged values of {key!r}; logged keys: {sorted({k for h in history for k in h})}")
        steps, values = zip(*rows)
        ax.plot(steps, values, label=key)
    if logy:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax


def interactive_or_static(widget_factory: Callable[[], object]) -> object | None:
    """Build an ipywidgets view when ipywidgets is importable; ``None`` otherwise.

    Chapters always draw a static figure beside the widget, so that a page rendered without a kernel
    says the same thing; this helper only keeps a missing ipywidgets from failing a chapter.
    """
    try:
        import ipywidgets  # noqa: F401
    except ImportError:  # pragma: no cover - ipywidgets comes with the book extra
        return None
    return widget_factory()
