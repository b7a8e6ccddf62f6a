"""Invariance transformations :math:`T(\\mathbf{x})` of IVE-GAN (sec. 3, 4): batched, on the input's device.

The discriminator of IVE-GAN is shown pairs ``(T(x), x)`` as "real"; whatever ``T`` changes, the encoder
does not have to keep. Each transform here is a small frozen dataclass, called as ``T(x, generator=None)``
on a whole batch; every sample gets its own random draw, made on ``x.device`` from ``generator`` (a
``torch.Generator`` on that device) or the global RNG. All keep shape, dtype, device and the value range
of their input, and are *exactly* the identity at strength 0 (a magnitude of 0 returns ``x`` itself).

* :class:`GaussianShift` -- eq. 4, ``T(x) = x + t``, ``t ~ N(0, Sigma / 2)`` for 2-D mixtures.
* :class:`RandomAffine` -- random shifts (pixels) and rotations (degrees) of images (MNIST: 4 px, 20 deg;
  CelebA: 20 px, 20 deg), resampled bilinearly with the background value ``fill`` outside the image.
* :class:`RandomHorizontalFlip`, :class:`ColorJitter` (brightness, contrast, hue) -- CelebA.
* :class:`Compose` chains transforms; :func:`mixture_shift`, :func:`mnist_transform` and
  :func:`celeba_transform` are the paper's choices, scaled by one ``strength``.

Example:
    >>> x = torch.rand(5, 1, 28, 28) * 2 - 1
    >>> t = mnist_transform(strength=1.0, value_range=(-1.0, 1.0))
    >>> y = t(x, torch.Generator().manual_seed(0))
    >>> y.shape == x.shape, bool(y.min() >= -1) and bool(y.max() <= 1)
    (True, True)
    >>> bool(torch.equal(mnist_transform(strength=0.0)(x), x))
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "Transform",
    "Identity",
    "Compose",
    "GaussianShift",
    "RandomAffine",
    "RandomHorizontalFlip",
    "ColorJitter",
    "mixture_shift",
    "mnist_transform",
    "celeba_transform",
]

Transform = Callable[..., Tensor]  # T(x, generator=None) -> same shape, dtype, device and range


def _uniform(n: int, like: Tensor, generator: torch.Generator | None, low: float, high: float) -> Tensor:
    """``n`` draws from U(low, high) in the dtype and on the device of ``like``."""
    u = torch.rand(n, generator=generator, device=like.device, dtype=like.dtype)
    return low + (high - low) * u


def _check_images(x: Tensor, what: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"{what} expects images (N, C, H, W), got shape {tuple(x.shape)}")


@dataclass(frozen=True)
class Identity:
    """``T(x) = x`` (a GAN whose pair discriminator sees the original itself)."""

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return x


@dataclass(frozen=True)
class Compose:
    """Apply ``transforms`` in order, each with the same ``generator``."""

    transforms: tuple[Transform, ...]

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        for t in self.transforms:
            x = t(x, generator)
        return x


@dataclass(frozen=True)
class GaussianShift:
    """Eq. 4: ``T(x) = x + t`` with ``t ~ N(0, std^2 I)`` per point (``std = sigma / sqrt 2`` for a
    mixture of isotropic Gaussians of standard deviation ``sigma``, i.e. covariance ``Sigma / 2``)."""

    std: float

    def __post_init__(self) -> None:
        if not self.std >= 0:
            raise ValueError(f"GaussianShift.std must be >= 0, got {self.std}")

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.std == 0:
            return x
        t = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return x + self.std * t


@dataclass(frozen=True)
class RandomAffine:
    """Per-image random shift of up to ``max_shift`` pixels in each of height and width (uniform) and
    rotation by up to ``max_degrees`` (uniform in ``[-max_degrees, max_degrees]``) about the centre.

    Bilinear resampling (``grid_sample``) is a convex combination of input pixels and ``fill`` (the
    background, e.g. the lower end of the value range), so values stay within the input's range.
    """

    max_shift: float = 4.0  # pixels
    max_degrees: float = 20.0  # degrees
    fill: float = 0.0  # value outside the image

    def __post_init__(self) -> None:
        if not (self.max_shift >= 0 and self.max_degrees >= 0):
            raise ValueError(
                f"RandomAffine needs max_shift >= 0 and max_degrees >= 0, got {self.max_shift}, {self.max_degrees}"
            )

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        _check_images(x, "RandomAffine")
        if self.max_shift == 0 and self.max_degrees == 0:
            return x
        n, _, h, w = x.shape
        angle = _uniform(n, x, generator, -1.0, 1.0) * math.radians(self.max_degrees)
        dx = _uniform(n, x, generator, -self.max_shift, self.max_shift)
        dy = _uniform(n, x, generator, -self.max_shift, self.max_shift)
        cos, sin = angle.cos(), angle.sin()
        # affine_grid maps output coordinates (normalised to [-1, 1]) to input coordinates: the inverse
        # of "rotate by angle, then shift by (dx, dy)"; a shift of d pixels is 2 d / size in these units.
        theta = torch.stack(
            [
                torch.stack([cos, sin * h / w, -(cos * dx * 2 / w + sin * dy * 2 / w)], 1),
                torch.stack([-sin * w / h, cos, (sin * dx * 2 / h - cos * dy * 2 / h)], 1),
            ],
            1,
        )
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        out = F.grid_sample(x - self.fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return out + self.fill


@dataclass(frozen=True)
class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p``."""

    p: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.p <= 1:
            raise ValueError(f"RandomHorizontalFlip.p must be in [0, 1], got {self.p}")

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        _check_images(x, "RandomHorizontalFlip")
        if self.p == 0:
            return x
        flip = _uniform(x.shape[0], x, generator, 0.0, 1.0) < self.p
        return torch.where(flip[:, None, None, None], x.flip(-1), x)


# RGB <-> YIQ: a hue change is a rotation of the chroma plane (I, Q) about the luma axis Y.
_RGB_TO_YIQ = ((0.299, 0.587, 0.114), (0.595716, -0.274453, -0.321263), (0.211456, -0.522591, 0.311135))


@dataclass(frozen=True)
class ColorJitter:
    """Random brightness, contrast and hue per image (CelebA, sec. 4.3).

    On intensities mapped to [0, 1] from ``value_range``: brightness multiplies by ``b ~ U(1 - brightness,
    1 + brightness)``; contrast blends with the image's mean grey, ``(x - m) c + m`` with
    ``c ~ U(1 - contrast, 1 + contrast)``; hue rotates the chroma plane of YIQ by ``h * 360`` degrees,
    ``h ~ U(-hue, hue)`` (RGB images only; a linear approximation of an HSV hue shift). The result is
    clamped to the value range (as torchvision's ``ColorJitter`` clamps to [0, 1]).
    """

    brightness: float = 0.1
    contrast: float = 0.1
    hue: float = 0.02
    value_range: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        if not (0 <= self.brightness <= 1 and 0 <= self.contrast <= 1 and 0 <= self.hue <= 0.5):
            raise ValueError(
                f"ColorJitter needs brightness, contrast in [0, 1] and hue in [0, 0.5], got "
                f"{self.brightness}, {self.contrast}, {self.hue}"
            )

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        _check_images(x, "ColorJitter")
        if self.brightness == 0 and self.contrast == 0 and self.hue == 0:
            return x
        lo, hi = self.value_range
        n, c = x.shape[:2]
        u = (x - lo) / (hi - lo)
        b = _uniform(n, x, generator, 1 - self.brightness, 1 + self.brightness)
        u = (u * b[:, None, None, None]).clamp(0, 1)
        k = _uniform(n, x, generator, 1 - self.contrast, 1 + self.contrast)[:, None, None, None]
        grey = (
            u.mean(dim=(1, 2, 3), keepdim=True)
            if c == 1
            else ((0.299 * u[:, 0] + 0.587 * u[:, 1] + 0.114 * u[:, 2]).mean(dim=(1, 2))[:, None, None, None])
        )
        u = ((u - grey) * k + grey).clamp(0, 1)
        if c == 3 and self.hue > 0:
            phi = _uniform(n, x, generator, -self.hue, self.hue) * 2 * math.pi
            to_yiq = torch.tensor(_RGB_TO_YIQ, dtype=x.dtype, device=x.device)
            cos, sin = phi.cos(), phi.sin()
            one, zero = torch.ones_like(cos), torch.zeros_like(cos)
            rot = torch.stack(
                [
                    torch.stack([one, zero, zero], 1),
                    torch.stack([zero, cos, -sin], 1),
                    torch.stack([zero, sin, cos], 1),
                ],
                1,
            )  # (n, 3, 3)
            m = torch.linalg.inv(to_yiq) @ rot @ to_yiq
            u = torch.einsum("nij,njhw->nihw", m, u).clamp(0, 1)
        return lo + (hi - lo) * u


def mixture_shift(sigma: float, strength: float = 1.0) -> GaussianShift:
    """Eq. 4 for a mixture of isotropic Gaussians of standard deviation ``sigma``: ``t ~ N(0, s Sigma/2)``
    with ``Sigma = sigma^2 I`` and strength ``s``."""
    if not strength >= 0:
        raise ValueError(f"strength must be >= 0, got {strength}")
    return GaussianShift(sigma * math.sqrt(strength / 2))


def mnist_transform(
    strength: float = 1.0,
    value_range: tuple[float, float] = (0.0, 1.0),
    max_shift: float = 4.0,
    max_degrees: float = 20.0,
) -> RandomAffine:
    """Sec. 4.2: shifts up to ``4 s`` pixels and rotations up to ``20 s`` degrees (strength ``s``); the
    background is the lower end of ``value_range``."""
    if not strength >= 0:
        raise ValueError(f"strength must be >= 0, got {strength}")
    return RandomAffine(max_shift * strength, max_degrees * strength, fill=value_range[0])


def celeba_transform(
    strength: float = 1.0,
    value_range: tuple[float, float] = (0.0, 1.0),
    max_shift: float = 20.0,
    max_degrees: float = 20.0,
    brightness: float = 0.1,
    contrast: float = 0.1,
    hue: float = 0.02,
) -> Compose:
    """Sec. 4.3: shifts up to 20 px, rotations up to 20 degrees, horizontal flips, small brightness,
    contrast and hue changes, all scaled by ``strength`` (flip probability ``0.5 min(s, 1)``)."""
    if not strength >= 0:
        raise ValueError(f"strength must be >= 0, got {strength}")
    s = strength
    return Compose(
        (
            RandomAffine(max_shift * s, max_degrees * s, fill=value_range[0]),
            RandomHorizontalFlip(0.5 * min(s, 1.0)),
            ColorJitter(min(brightness * s, 1.0), min(contrast * s, 1.0), min(hue * s, 0.5), value_range),
        )
    )
