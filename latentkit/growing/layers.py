"""Building blocks of the growing CNN GANs (Sandström, sections 6.2.6-6.2.8).

* :class:`GrowConv2d` -- a convolution whose channels can grow; the weights that growth added are
  multiplied at run time by ``beta`` (0 -> 1), ``w_hat = beta * w`` (sec. 6.2.7), so that at ``beta = 0``
  the grown layer computes exactly what the layer before growth computed;
* :func:`minibatch_stddev` -- the minibatch standard deviation feature map with the ``tau``-weighted
  average over old and new channels (eq. 15);
* :func:`upsample` (nearest neighbour, each pixel to 2x2), :func:`downsample` (average pooling),
  :func:`resize_to` and :func:`fade` (``(1 - alpha) * old + alpha * new``).

He initialisation (for LReLU 0.2) is used for every weight; biases start at zero.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["LRELU_SLOPE", "GrowConv2d", "minibatch_stddev", "upsample", "downsample", "resize_to", "fade"]

LRELU_SLOPE = 0.2  # leakiness of every LReLU (sec. 6.2.8)


def upsample(x: Tensor, factor: int = 2) -> Tensor:
    """Nearest-neighbour upsampling: every pixel becomes a ``factor x factor`` block."""
    return x if factor == 1 else F.interpolate(x, scale_factor=factor, mode="nearest")


def downsample(x: Tensor, factor: int = 2) -> Tensor:
    """Average pooling over ``factor x factor`` blocks."""
    return x if factor == 1 else F.avg_pool2d(x, factor)


def resize_to(x: Tensor, size: int) -> Tensor:
    """Average-pool down to ``size`` (or nearest-upsample up to it); sizes must differ by a power of two."""
    h = x.shape[-1]
    if h == size:
        return x
    if h > size:
        if h % size:
            raise ValueError(f"cannot average-pool {h}x{h} images to {size}x{size}")
        return downsample(x, h // size)
    if size % h:
        raise ValueError(f"cannot nearest-upsample {h}x{h} images to {size}x{size}")
    return upsample(x, size // h)


def fade(old: Tensor, new: Tensor, alpha: float) -> Tensor:
    """``(1 - alpha) * old + alpha * new`` (sec. 6.2.7); exactly ``old`` at ``alpha = 0``."""
    if alpha >= 1.0:
        return new
    if alpha <= 0.0:
        return old
    return (1.0 - alpha) * old + alpha * new


class GrowConv2d(nn.Module):
    """A 2-D convolution that remembers which of its weights are new after a growth step.

    Arguments:
        in_ch, out_ch: channels now.
        kernel: kernel size; ``padding`` as in ``F.conv2d`` (``kernel - 1`` is the "full" padding).
        old_in, old_out: how many of the input / output channels existed before growth (default: all).
        keep_last_in: the last input channel is an old one however many channels grew (the minibatch
            standard deviation map of layer d3, which must keep its filter, sec. 6.2.6).

    ``beta`` (an attribute, default 1) scales the new weights and biases at run time. ``copy_from(old)``
    copies a smaller layer's weights into the old block.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int,
        padding: int = 0,
        old_in: int | None = None,
        old_out: int | None = None,
        keep_last_in: bool = False,
    ) -> None:
        super().__init__()
        self.in_ch, self.out_ch, self.kernel, self.padding = in_ch, out_ch, kernel, padding
        self.old_in = in_ch if old_in is None else old_in
        self.old_out = out_ch if old_out is None else old_out
        if not (0 < self.old_in <= in_ch and 0 < self.old_out <= out_ch):
            raise ValueError(f"old channels ({self.old_in}, {self.old_out}) must be in 1..({in_ch}, {out_ch})")
        self.keep_last_in = keep_last_in
        self.weight = nn.Parameter(torch.empty(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        nn.init.kaiming_normal_(self.weight, a=LRELU_SLOPE, nonlinearity="leaky_relu")
        old = torch.zeros(out_ch, in_ch, dtype=torch.bool)
        old[: self.old_out, self.old_in_index()] = True
        self.register_buffer("old_mask", old, persistent=False)
        self.beta = 1.0

    @property
    def grown(self) -> bool:
        """Whether this layer has weights that growth added (scaled by ``beta``)."""
        return self.old_in < self.in_ch or self.old_out < self.out_ch

    def old_in_index(self) -> list[int]:
        """Positions of the old input channels in the grown layer."""
        if self.keep_last_in and self.old_in < self.in_ch:
            return list(range(self.old_in - 1)) + [self.in_ch - 1]
        return list(range(self.old_in))

    def effective(self) -> tuple[Tensor, Tensor]:
        """The weight and bias used at run time (new entries times ``beta``)."""
        if not self.grown or self.beta >= 1.0:
            return self.weight, self.bias
        mask = self.old_mask.to(self.weight.dtype)
        scale = mask + self.beta * (1.0 - mask)
        bias_scale = torch.ones_like(self.bias)
        bias_scale[self.old_out :] = self.beta
        return self.weight * scale[:, :, None, None], self.bias * bias_scale

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] != self.in_ch:
            raise ValueError(f"GrowConv2d expects {self.in_ch} input channels, got {x.shape[1]}")
        w, b = self.effective()
        return F.conv2d(x, w, b, padding=self.padding)

    @torch.no_grad()
    def copy_from(self, old: GrowConv2d) -> None:
        """Put ``old``'s weights into this layer's old block (its channels must be the old ones)."""
        if (old.in_ch, old.out_ch, old.kernel) != (self.old_in, self.old_out, self.kernel):
            raise ValueError(
                f"cannot grow a {old.in_ch}->{old.out_ch} k{old.kernel} layer into "
                f"{self.in_ch}->{self.out_ch} k{self.kernel} with {self.old_in}->{self.old_out} old"
            )
        idx = torch.tensor(self.old_in_index(), device=self.weight.device)
        self.weight[: self.old_out].index_copy_(1, idx, old.weight.to(self.weight))
        self.bias[: self.old_out].copy_(old.bias.to(self.bias))
        self.bias[self.old_out :].zero_()

    def extra_repr(self) -> str:
        return (
            f"{self.in_ch}, {self.out_ch}, kernel={self.kernel}, padding={self.padding}, "
            f"old=({self.old_in}, {self.old_out})"
        )


def minibatch_stddev(x: Tensor, old_channels: int | None = None, tau: float = 0.0, eps: float = 1e-8) -> Tensor:
    """Append the minibatch standard deviation as one constant feature map (sec. 6.2.6, eq. 15).

    The standard deviation over the batch is taken for every channel and location (population std,
    ``sqrt(var + eps)``); these are averaged into one number -- over the first ``old_channels`` channels
    and over the remaining (new) ones separately, blended as ``(1 - tau) * s_old + tau * s_new`` (eq. 15).
    Without new channels it is the plain average. The number is appended as a constant map ``(B, 1, H, W)``.

    Example:
        >>> minibatch_stddev(torch.zeros(4, 3, 2, 2)).shape
        torch.Size([4, 4, 2, 2])
    """
    b, c, h, w = x.shape
    std = torch.sqrt(x.var(dim=0, unbiased=False) + eps)  # (C, H, W)
    if old_channels is None or old_channels >= c:
        s = std.mean()
    else:
        s = (1.0 - tau) * std[:old_channels].mean() + tau * std[old_channels:].mean()
    return torch.cat([x, s.expand(b, 1, h, w)], dim=1)
