"""Nearest-neighbour upsampling Gaussian NIF (Cunningham et al., section 4.1).

``A`` maps a latent image ``z`` of shape ``(C_z, h, w)`` to ``x`` of shape ``(C_x, k h, k w)`` by
nearest-neighbour upsampling with a factor ``k``: every latent pixel ``z[:, i, j]`` is copied into the
``k x k`` patch of ``x`` above it, through a per-patch matrix ``W`` of shape ``(C_x k k, C_z)``. Plain
upsampling (``W`` = the identity on channels, repeated over the patch) is the initialisation; with
``learn_A=True`` the patch matrix is learned (the upsampling becomes a transposed convolution of
stride ``k``, which is still block-structured).

Because the patches of different latent pixels do not overlap and ``Sigma`` is diagonal,
``Lambda = A^T Sigma^-1 A`` is **block-diagonal**, with one ``C_z x C_z`` block per latent pixel::

    Lambda_ij = sum_{c,p,q} W[:, c, p, q] Sigma^-1[c, k i + p, k j + q] W[:, c, p, q]^T

and ``A``, ``A^T`` are a transposed convolution and a convolution of stride ``k``. Nothing of size
``dim_x x dim_z`` is ever formed; the layer costs ``O(dim_x C_z + h w C_z^3)``, linear in ``dim_z`` for a
fixed number of channels (instead of ``O(dim_z^3)`` for the dense :class:`~latentkit.nif.gaussian.GaussianNIF`).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentkit import _checks
from latentkit.nif.gaussian import LinearGaussianNIF

__all__ = ["UpsampleOperator", "UpsampleNIF", "upsampling_matrix"]


@dataclass(frozen=True)
class UpsampleOperator:
    """``A`` as a stride-``k`` transposed convolution with kernel ``weight`` of shape ``(C_z, C_x, k, k)``.

    Latents ``(N, C_z, h, w)``; data ``(N, C_x, k h, k w)``; block layout ``(N, h w, C_z)``.
    """

    weight: Tensor
    h: int
    w: int

    @property
    def factor(self) -> int:
        return self.weight.shape[-1]

    @property
    def dim_z(self) -> int:
        return self.weight.shape[0] * self.h * self.w

    def matvec(self, z: Tensor) -> Tensor:
        return F.conv_transpose2d(z, self.weight, stride=self.factor)

    def rmatvec(self, v: Tensor) -> Tensor:
        return F.conv2d(v, self.weight, stride=self.factor)

    def gram(self, weights: Tensor) -> Tensor:
        """Blocks ``(N or 1, h w, C_z, C_z)`` of ``A^T diag(weights) A`` for weights ``([N,] C_x, k h, k w)``."""
        k, h, w = self.factor, self.h, self.w
        wt = weights if weights.dim() == 4 else weights.unsqueeze(0)
        n, c = wt.shape[:2]
        patches = wt.reshape(n, c, h, k, w, k)  # [n, c, i, p, j, q]
        g = torch.einsum("acpq,ncipjq,bcpq->nijab", self.weight, patches, self.weight)
        return g.reshape(n, h * w, *g.shape[-2:])

    def to_blocks(self, z: Tensor) -> Tensor:
        return z.permute(0, 2, 3, 1).reshape(z.shape[0], self.h * self.w, z.shape[1])

    def from_blocks(self, zb: Tensor) -> Tensor:
        return zb.reshape(zb.shape[0], self.h, self.w, zb.shape[-1]).permute(0, 3, 1, 2)


def upsampling_matrix(channels: int, h: int, w: int, factor: int = 2) -> Tensor:
    """The explicit ``(channels k^2 h w) x (channels h w)`` nearest-neighbour upsampling matrix (for checks;
    rows and columns follow PyTorch's row-major flattening of ``(C, H, W)``); every size an int ``>= 1``."""
    for name, v in (("channels", channels), ("h", h), ("w", w), ("factor", factor)):
        _checks.integer("upsampling_matrix", name, v, low=1)
    eye = torch.eye(channels * h * w).reshape(-1, channels, h, w)
    up = eye.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)
    return up.reshape(channels * h * w, -1).T.contiguous()


class UpsampleNIF(LinearGaussianNIF):
    """Gaussian NIF whose ``A`` is nearest-neighbour upsampling (section 4.1); ``O(dim_z)`` per example.

    Arguments:
        z_shape: ``(C_z, h, w)``.
        factor: upsampling factor ``k``; ``x`` has shape ``(C_x, k h, k w)``.
        x_channels: ``C_x`` (default ``C_z``); needs ``C_z <= C_x k^2``.
        learn_A: learn the per-patch matrix (initialised to plain upsampling); ``False`` keeps ``A`` the
            fixed upsampling operator (then ``Lambda`` is even diagonal).
        compute_dtype: dtype of the Cholesky algebra (``None``: that of the input).

    Example:
        >>> nif = UpsampleNIF((3, 4, 4), factor=2)
        >>> nif.log_likelihood(torch.randn(2, 3, 8, 8)).shape
        torch.Size([2])
    """

    def __init__(
        self,
        z_shape: tuple[int, int, int],
        factor: int = 2,
        x_channels: int | None = None,
        learn_A: bool = True,
        compute_dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(compute_dtype)
        if len(z_shape) != 3 or not all(isinstance(v, numbers.Integral) and v >= 1 for v in z_shape):
            raise _checks.error("UpsampleNIF", "z_shape", "(C_z, h, w) of ints >= 1", repr(z_shape))
        _checks.integer("UpsampleNIF", "factor", factor, low=1)
        if x_channels is not None:
            _checks.integer("UpsampleNIF", "x_channels", x_channels, low=1)
        cz, h, w = z_shape
        cx = cz if x_channels is None else x_channels
        if factor < 1 or cz < 1 or cz > cx * factor * factor:
            raise ValueError(
                f"UpsampleNIF needs factor >= 1 and 1 <= C_z <= C_x k^2, got C_z={cz}, C_x={cx}, k={factor}"
            )
        self.z_shape = (cz, h, w)
        self.x_shape = (cx, h * factor, w * factor)
        self.factor = factor
        if cx == cz:
            mix = torch.eye(cz)
        else:
            mix, _ = torch.linalg.qr(torch.randn(max(cx, cz), min(cx, cz)))
            mix = mix if cx >= cz else mix.T  # (C_x, C_z)
            mix = mix[:cx, :cz]
        weight = mix.T.reshape(cz, cx, 1, 1).expand(cz, cx, factor, factor).clone()
        if learn_A:
            self.weight = nn.Parameter(weight)
        else:
            self.register_buffer("weight", weight)
        self.b = nn.Parameter(torch.zeros(self.x_shape))
        self.log_sigma = nn.Parameter(torch.zeros(self.x_shape))

    def operator(self, dtype: torch.dtype | None = None) -> UpsampleOperator:
        weight = self.weight if dtype is None else self.weight.to(dtype)
        return UpsampleOperator(weight, self.z_shape[1], self.z_shape[2])

    def dense_matrix(self) -> Tensor:
        """The explicit ``(dim_x, dim_z)`` matrix ``A`` (``O(dim_x dim_z)`` memory: for checks only)."""
        eye = torch.eye(self.dim_z, dtype=self.weight.dtype, device=self.weight.device)
        return self.operator().matvec(eye.reshape(-1, *self.z_shape)).reshape(self.dim_z, -1).T

    def extra_repr(self) -> str:
        return f"z_shape={self.z_shape}, x_shape={self.x_shape}, factor={self.factor}"
