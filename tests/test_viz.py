"""latentkit.viz's sliders: the static frame slider of the book and its live ipywidgets twin.

The JavaScript of the frame slider is driven in a real browser by tests/test_browser.py; here the frames,
their order, the HTML and the refusals are checked without one.
"""

from __future__ import annotations

import base64
import io
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image

from latentkit import viz


def _decode(uri: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def _grey(a: float, b: float) -> torch.Tensor:
    return torch.full((1, 3, 3), (3 * a + b) / 12.0)


def test_frames_follow_the_product_of_the_slider_values_last_fastest():
    slider = viz.frame_slider(_grey, {"a": [0, 1, 2, 3], "b": [0, 1, 2]}, scale=1)
    assert len(slider.frames) == 12 and slider.strides == (3, 1)
    for a in range(4):
        for b in range(3):
            k = slider.index(a=a, b=b)
            assert k == 3 * a + b
            pixels = np.asarray(Image.open(io.BytesIO(slider.frames[k])))
            # image_grid pads with zeros: the centre pixel carries the frame's grey level
            assert pixels[2, 2] == round((3 * a + b) / 12.0 * 255)


def test_html_has_one_range_input_per_slider_and_starts_on_the_initial_frame():
    slider = viz.frame_slider(_grey, {"a": [0, 1, 2, 3], "b": [0, 1, 2]}, initial={"a": 2.9, "b": 0}, title="t<1>")
    html = slider._repr_html_()
    assert html.count('type="range"') == 2 and "<script>" in html and "t&lt;1&gt;" in html
    assert slider.initial == (3, 0) and f'data-frame="{slider.index()}"' in html
    src = re.search(r'<img src="([^"]+)"', html).group(1)
    assert _decode(src)[2, 2] == round(9 / 12 * 255)
    assert "http" not in html, "the slider must not load anything from the network"
    # the same frames give the same page (ids derive from the content), so re-executed notebooks are stable;
    # another title is another element id
    assert slider.id != viz.frame_slider(_grey, {"a": [0, 1, 2, 3], "b": [0, 1, 2]}).id
    assert slider.id == viz.frame_slider(_grey, {"a": [0, 1, 2, 3], "b": [0, 1, 2]}, title="t<1>").id


def test_categorical_values_and_figures_render():
    def draw(model: str, t: float):
        fig, ax = plt.subplots(figsize=(2, 1))
        ax.set_title(f"{model} {t}")
        return fig

    before = len(plt.get_fignums())
    slider = viz.frame_slider(draw, {"model": ["bGAN", "clgGAN"], "t": [0.5, 1.0]}, dpi=30)
    assert len(slider.frames) == 4 and len(plt.get_fignums()) == before, "figures must be closed"
    sizes = {Image.open(io.BytesIO(f)).size for f in slider.frames}
    assert sizes == {(60, 30)}, "every frame of a figure slider has the figure's size"
    assert slider.index(model="clgGAN", t=0.5) == 2
    assert "clgGAN" in slider._repr_html_()


@pytest.mark.parametrize(
    ("sliders", "kwargs", "message"),
    [
        ({}, {}, "non-empty"),
        ({"a": []}, {}, "no values"),
        ({"not a name": [1]}, {}, "identifier"),
        ({"a": [1]}, {"initial": {"b": 1}}, "unknown"),
        ({"a": [1]}, {"scale": 0}, "scale"),
    ],
)
@pytest.mark.parametrize("make", ["frame_slider", "live_slider"])
def test_bad_sliders_are_refused(sliders, kwargs, message, make):
    pytest.importorskip("ipywidgets")
    with pytest.raises(ValueError, match=message):
        getattr(viz, make)(lambda **_: torch.zeros(1, 2, 2), sliders, **kwargs)


def test_index_refuses_values_the_slider_does_not_have():
    slider = viz.frame_slider(_grey, {"a": [0, 1], "b": [0]})
    with pytest.raises(ValueError, match="no value"):
        slider.index(a=5)
    with pytest.raises(ValueError, match="unknown"):
        slider.index(c=0)


def test_render_must_return_images_or_a_figure():
    with pytest.raises(TypeError, match="Figure or images"):
        viz.frame_slider(lambda a: "not an image", {"a": [0]})


def test_too_many_bytes_are_refused_before_the_page_gets_heavy():
    noise = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="exceed"):
        viz.frame_slider(lambda a: torch.rand(3, 256, 256, generator=noise), {"a": list(range(40))}, scale=2)


def test_live_slider_redraws_its_image_when_a_slider_moves():
    pytest.importorskip("ipywidgets")
    calls = []

    def render(a, b):
        calls.append((a, b))
        return _grey(a, b)

    view = viz.live_slider(render, {"a": [0, 1, 2, 3], "b": [0, 1, 2]}, initial={"a": 1}, title="live", scale=1)
    title, a, b, image = view.children
    assert calls == [(1, 1)] and a.value == 1 and b.value == 1
    first = image.value
    assert _decode("x," + base64.b64encode(first).decode())[2, 2] == round(4 / 12 * 255)
    b.value = 2
    assert calls[-1] == (1, 2) and image.value != first
