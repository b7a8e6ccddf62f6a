"""Figures shared by the chapters: image grids, latent scatter plots, strips and frame sliders.

Every drawing function draws into a matplotlib ``Axes`` (created when not given), titles it and labels
its axes, and returns it, so that chapters compose figures without copying plotting code.
:func:`frame_slider` is the book's one interactive figure: frames precomputed over a grid of values and
a JavaScript slider that needs no kernel and nothing from the network.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

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
    "frame_slider",
    "FrameSlider",
    "live_slider",
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


# Above this many bytes of frames a page gets slow to load; refuse and ask for fewer or smaller frames.
_MAX_SLIDER_BYTES = 6_000_000


def _png_of_image(image: torch.Tensor | np.ndarray, value_range: tuple[float, float], scale: int) -> bytes:
    """PNG bytes of one image ``(C, H, W)`` / ``(H, W)`` or of a batch ``(N, C, H, W)`` tiled in one row."""
    from PIL import Image

    x = _to_numpy(image)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 3:
        x = x[None]
    grid = image_grid(x, nrow=len(x), value_range=value_range)
    pixels = np.round(grid * 255.0).astype(np.uint8)
    pixels = pixels.repeat(scale, axis=0).repeat(scale, axis=1)
    picture = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _png_of_figure(fig: Any, dpi: int) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)  # the figure's own size: every frame has the same shape
    plt.close(fig)
    return buffer.getvalue()


class FrameSlider:
    """Frames rendered over a grid of slider values, shown by a self-contained HTML/JavaScript slider.

    Build one with :func:`frame_slider`. Displayed in a notebook (or a Jupyter Book page) it is an image with
    one ``<input type="range">`` per parameter; moving a slider swaps in the precomputed frame, so the static
    page works without a kernel or network access. :meth:`index` maps values to the frame shown for them.
    """

    def __init__(
        self,
        names: Sequence[str],
        values: Sequence[Sequence[Any]],
        frames: Sequence[bytes],
        initial: Sequence[int],
        labels: Sequence[Sequence[str]],
        title: str,
    ) -> None:
        self.names = tuple(names)
        self.values = tuple(tuple(v) for v in values)
        self.frames = tuple(frames)
        self.initial = tuple(initial)
        self.labels = tuple(tuple(lbl) for lbl in labels)
        self.title = title
        # Row-major over the sliders in the given order: the last slider moves fastest.
        self.strides = tuple(math.prod(len(v) for v in self.values[i + 1 :]) for i in range(len(self.values)))
        self.id = "lk-slider-" + hashlib.sha1(b"".join(self.frames) + title.encode()).hexdigest()[:12]

    def index(self, **values: Any) -> int:
        """The frame shown when each slider stands at the given value (missing ones at their initial value).

        Example:
            >>> s = frame_slider(lambda a, b: torch.full((1, 2, 2), a * b / 4.0), {"a": [0, 1], "b": [0, 2, 4]})
            >>> s.index(a=1, b=2), len(s.frames)
            (4, 6)
        """
        unknown = set(values) - set(self.names)
        if unknown:
            raise ValueError(f"unknown slider(s) {sorted(unknown)}; the sliders are {list(self.names)}")
        position = []
        for name, options, start in zip(self.names, self.values, self.initial):
            if name in values:
                if values[name] not in options:
                    raise ValueError(f"slider {name!r} has no value {values[name]!r}; it has {list(options)}")
                position.append(options.index(values[name]))
            else:
                position.append(start)
        return sum(p * s for p, s in zip(position, self.strides))

    def _uri(self, frame: bytes) -> str:
        return "data:image/png;base64," + base64.b64encode(frame).decode("ascii")

    def _repr_html_(self) -> str:
        start = sum(p * s for p, s in zip(self.initial, self.strides))
        rows = []
        for i, (name, labels) in enumerate(zip(self.names, self.labels)):
            rows.append(
                '<label style="display:flex;align-items:center;gap:0.6em;margin:0.2em 0">'
                f'<span style="min-width:4em">{html.escape(name)}</span>'
                f'<input type="range" min="0" max="{len(labels) - 1}" step="1" value="{self.initial[i]}" '
                f'data-slider="{i}" aria-label="{html.escape(name)}" style="flex:1;max-width:24em">'
                f'<output style="min-width:5em;font-family:monospace">{html.escape(labels[self.initial[i]])}'
                "</output></label>"
            )
        caption = (
            f'<div style="font-weight:600;margin-bottom:0.3em">{html.escape(self.title)}</div>' if self.title else ""
        )
        script = (
            "(function () {"
            f"var root = document.getElementById({json.dumps(self.id)});"
            f"var frames = {json.dumps([self._uri(f) for f in self.frames])};"
            f"var labels = {json.dumps([list(lbl) for lbl in self.labels])};"
            f"var strides = {json.dumps(list(self.strides))};"
            'var inputs = root.querySelectorAll("input[data-slider]");'
            'var image = root.querySelector("img");'
            "function update() {"
            "var k = 0;"
            "inputs.forEach(function (input) {"
            "var i = Number(input.dataset.slider), v = Number(input.value);"
            "k += v * strides[i];"
            'input.parentNode.querySelector("output").textContent = labels[i][v];'
            "});"
            "image.src = frames[k]; image.dataset.frame = String(k);"
            "}"
            'inputs.forEach(function (input) { input.addEventListener("input", update); });'
            "})();"
        )
        return (
            f'<div class="lk-frame-slider" id="{self.id}" style="margin:0.5em 0">{caption}'
            f'<img src="{self._uri(self.frames[start])}" data-frame="{start}" '
            f'alt="{html.escape(self.title or "frame")}" style="max-width:100%;image-rendering:pixelated">'
            f"{''.join(rows)}<script>{script}</script></div>"
        )

    def __repr__(self) -> str:
        sizes = " x ".join(f"{n}[{len(v)}]" for n, v in zip(self.names, self.values))
        kib = sum(len(f) for f in self.frames) / 1024
        return f"FrameSlider({sizes}: {len(self.frames)} frames, {kib:.0f} KiB)"


def frame_slider(
    render: Callable[..., Any],
    sliders: Mapping[str, Sequence[Any]],
    *,
    initial: Mapping[str, Any] | None = None,
    title: str = "",
    fmt: str | Mapping[str, str] = "{:g}",
    value_range: tuple[float, float] = (0.0, 1.0),
    scale: int = 4,
    dpi: int = 72,
) -> FrameSlider:
    """Render one frame per combination of slider values and show them with a JavaScript slider.

    The book's replacement for a live ipywidgets view: a static page has no kernel, so every frame is
    computed here, with the model, over the grid of values (at most a few hundred frames; pass coarser
    value lists for more sliders). The result displays as self-contained HTML (data-URI PNGs and a few
    lines of inline JavaScript: no CDN, no kernel), unlike matplotlib's ``Animation.to_jshtml``, whose
    buttons load font-awesome from a CDN and which has a single play axis.

    Args:
        render: called as ``render(**values)`` for each combination; returns a matplotlib ``Figure``
            (saved at ``dpi`` and closed; keep its size fixed so frames line up) or images: ``(H, W)``,
            ``(C, H, W)`` or a batch ``(N, C, H, W)`` shown in one row, scaled ``scale`` times, with pixel
            values in ``value_range``.
        sliders: parameter name -> the values the slider steps through, in order.
        initial: the value each slider starts at (default: the middle of its list).
        title: a caption above the image.
        fmt: how a value is printed beside its slider (one format, or one per name).

    Example:
        >>> s = frame_slider(lambda t: torch.full((1, 4, 4), t), {"t": [0.0, 0.5, 1.0]}, title="grey")
        >>> s
        FrameSlider(t[3]: 3 frames, 0 KiB)
        >>> s._repr_html_().count('type="range"'), s.index(t=1.0)
        (1, 2)
    """
    names, values, start, labels = _slider_axes("frame_slider", sliders, initial, fmt, scale)
    frames, total = [], 0
    for combo in itertools.product(*values):
        frame = _render_png(render, dict(zip(names, combo)), value_range, scale, dpi)
        total += len(frame)
        if total > _MAX_SLIDER_BYTES:
            raise ValueError(
                f"frame_slider: frames exceed {_MAX_SLIDER_BYTES / 1e6:g} MB after {len(frames) + 1} of "
                f"{math.prod(len(v) for v in values)}; use fewer values, a smaller figure or a lower dpi"
            )
        frames.append(frame)
    return FrameSlider(names, values, frames, start, labels, title)


def _slider_axes(
    who: str,
    sliders: Mapping[str, Sequence[Any]],
    initial: Mapping[str, Any] | None,
    fmt: str | Mapping[str, str],
    scale: int,
) -> tuple[list[str], list[list[Any]], list[int], list[list[str]]]:
    """Check the sliders of :func:`frame_slider` / :func:`live_slider`; return their names, values, the index
    each starts at (nearest to ``initial``, else the middle) and the printed label of every value."""
    if not isinstance(sliders, Mapping) or not sliders:
        raise ValueError(f"{who}: sliders must be a non-empty mapping of name -> values")
    names = list(sliders)
    values = [list(sliders[n]) for n in names]
    for name, options in zip(names, values):
        if not name.isidentifier():
            raise ValueError(f"{who}: slider name {name!r} is not a Python identifier (render's keyword)")
        if not options:
            raise ValueError(f"{who}: slider {name!r} has no values")
    if not isinstance(scale, int) or isinstance(scale, bool) or scale < 1:
        raise ValueError(f"{who}: scale must be an int >= 1, got {scale!r}")
    initial = dict(initial or {})
    unknown = set(initial) - set(names)
    if unknown:
        raise ValueError(f"{who}: initial names unknown slider(s) {sorted(unknown)}")
    start = []
    for name, options in zip(names, values):
        if name in initial:
            target = initial[name]
            distance = [abs(float(v) - float(target)) if _is_number(v) else float(v != target) for v in options]
            start.append(int(np.argmin(distance)))
        else:
            start.append((len(options) - 1) // 2)
    formats = {n: (fmt if isinstance(fmt, str) else fmt.get(n, "{:g}")) for n in names}
    labels = [[formats[n].format(v) if _is_number(v) else str(v) for v in options] for n, options in zip(names, values)]
    return names, values, start, labels


def _render_png(
    render: Callable[..., Any], values: dict[str, Any], value_range: tuple[float, float], scale: int, dpi: int
) -> bytes:
    out = render(**values)
    if hasattr(out, "savefig"):
        return _png_of_figure(out, dpi)
    if isinstance(out, (torch.Tensor, np.ndarray)):
        return _png_of_image(out, value_range, scale)
    raise TypeError(f"render returned {type(out).__name__}; expected a matplotlib Figure or images")


def live_slider(
    render: Callable[..., Any],
    sliders: Mapping[str, Sequence[Any]],
    *,
    initial: Mapping[str, Any] | None = None,
    title: str = "",
    fmt: str | Mapping[str, str] = "{:g}",
    value_range: tuple[float, float] = (0.0, 1.0),
    scale: int = 4,
    dpi: int = 72,
) -> Any:
    """The live twin of :func:`frame_slider` for a notebook running in Jupyter: ipywidgets sliders over the
    same ``render`` and ``sliders`` (pass finer value lists: each move renders one frame on the spot).

    The frame is shown in an ``ipywidgets.Image`` whose bytes are replaced on each move. Drawing figures into
    an ``interactive``/``Output`` view instead makes unattended runs (papermill, a book build) wait forever
    now and then for a reply that has already come (the missed wake-up of
    :mod:`latentkit.experiments.kernels`). A built page has no kernel, so the chapters tag the cell holding
    this view ``remove-cell``. Returns ``None`` when ipywidgets is not installed.
    """
    try:
        import ipywidgets
    except ImportError:  # pragma: no cover - ipywidgets comes with the book extra
        return None
    names, values, start, labels = _slider_axes("live_slider", sliders, initial, fmt, scale)
    controls = {
        name: ipywidgets.SelectionSlider(
            options=list(zip(labels_, options)), index=i, description=name, continuous_update=False
        )
        for name, options, i, labels_ in zip(names, values, start, labels)
    }
    image = ipywidgets.Image(format="png")

    def update(*_: Any) -> None:
        image.value = _render_png(render, {n: c.value for n, c in controls.items()}, value_range, scale, dpi)

    for control in controls.values():
        control.observe(update, "value")
    update()
    children = ([ipywidgets.HTML(f"<b>{html.escape(title)}</b>")] if title else []) + [*controls.values(), image]
    return ipywidgets.VBox(children)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
