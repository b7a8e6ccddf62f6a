"""Stochastic coupling (Cunningham et al., section 4.2): the coupling layer of a noisy injective flow.

An affine coupling keeps ``x_1`` and maps ``x_2`` deterministically. Its stochastic analogue keeps
``x_1`` too, but relates ``x_2`` (dimension ``n_2``) to a *lower*-dimensional ``z_2`` (dimension
``m <= n_2``) through a Gaussian NIF whose parameters depend on ``x_1``::

    p(x_2 | z_2; x_1) = N(x_2 | diag(exp(a(x_1))) A z_2 + b(x_1), diag(exp(log_sigma(x_1)))),

with ``A`` a learned ``n_2 x m`` matrix and ``a, b, log_sigma`` the outputs of a network of ``x_1``
(``a`` plays the part of the coupling's scale). In the inference direction the layer draws
``z_2 ~ q(z_2 | x_2; x_1)``, the stochastic inverse of eq. 12, and contributes the **manifold term**
``log int p(x_2 | z_2; x_1) dz_2`` where a bijective layer would contribute its log-determinant; in the
generative direction it samples ``x_2 ~ N(., s Sigma)`` (``s = 0``: on the manifold). A stack of such
layers followed by a prior ``p(z)`` is trained on the lower bound of eq. 9,
``E_q[log p(z)] + sum of manifold terms``.

Writing ``D = diag(exp(a))`` and ``x' = D^-1 (x_2 - b)``: ``x' ~ N(A z_2, D^-1 Sigma D^-1)``, so the
layer reuses :func:`latentkit.nif.gaussian.nif_terms` with a shared ``A`` and per-example noise, and
the change of variables adds ``-sum(a)``. With the prior ``N(0, I)`` on the output ``(x_1, z_2)``, one layer
is a model whose likelihood is exact (:meth:`StochasticCoupling.log_likelihood`, eq. 13 for each ``x_1``), so
the bound (:meth:`StochasticCoupling.bound`) can be checked against it: their difference is
``KL(q(z_2 | x) || p(z_2 | x)) >= 0``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from latentkit import _checks
from latentkit.nif.gaussian import LOG_2PI, DenseOperator, nif_terms

__all__ = ["StochasticCoupling"]


class StochasticCoupling(nn.Module):
    """Stochastic coupling on vectors ``(N, dim)``: ``(x_1, x_2) <-> (x_1, z_2)``, ``dim(z_2) = dim_z2``.

    Arguments:
        dim: input dimension; ``x_1`` is the first ``dim // 2`` features.
        dim_z2: dimension ``m`` of ``z_2``, ``1 <= m <= dim - dim // 2``; the output has ``dim // 2 + m``.
        hidden: width of the conditioning MLP (``>= 1``).
        layers: hidden layers of the MLP (``>= 1``).
        clamp: bound of ``a`` and of ``log_sigma - log_sigma_init`` (soft, ``c tanh(h / c)``; ``> 0``).
        log_sigma_init: initial log noise variance (finite).
        compute_dtype: dtype of the Cholesky algebra (``None``: that of the input).

    Example:
        >>> layer = StochasticCoupling(6, dim_z2=1)
        >>> z, manifold = layer(torch.randn(4, 6))
        >>> z.shape, manifold.shape, layer.inverse(z, s=0.0).shape
        (torch.Size([4, 4]), torch.Size([4]), torch.Size([4, 6]))
    """

    def __init__(
        self,
        dim: int,
        dim_z2: int,
        hidden: int = 64,
        layers: int = 2,
        clamp: float = 2.0,
        log_sigma_init: float = 0.0,
        compute_dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        where = "StochasticCoupling"
        _checks.integer(where, "dim", dim, low=2)
        _checks.integer(where, "dim_z2", dim_z2)
        _checks.integer(where, "hidden", hidden, low=1)
        _checks.integer(where, "layers", layers, low=1)
        _checks.real(where, "clamp", clamp, low=0.0, low_open=True)
        _checks.real(where, "log_sigma_init", log_sigma_init)
        self.n1 = dim // 2
        self.n2 = dim - self.n1
        if self.n1 < 1 or not 1 <= dim_z2 <= self.n2:
            raise ValueError(
                f"StochasticCoupling needs dim >= 2 and 1 <= dim_z2 <= {self.n2}, got dim={dim}, dim_z2={dim_z2}"
            )
        self.dim, self.dim_z2 = dim, dim_z2
        self.clamp, self.log_sigma_init, self.compute_dtype = clamp, log_sigma_init, compute_dtype
        q, _ = torch.linalg.qr(torch.randn(self.n2, dim_z2))
        self.A = nn.Parameter(q)
        mods: list[nn.Module] = [nn.Linear(self.n1, hidden), nn.ReLU()]
        for _ in range(layers - 1):
            mods += [nn.Linear(hidden, hidden), nn.ReLU()]
        self.net = nn.Sequential(*mods, nn.Linear(hidden, 3 * self.n2))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        """Data-dependent initialisation: ``A`` becomes the top ``dim_z2`` principal directions of ``x_2``.

        The per-example scale ``diag(exp(a))`` cannot change the signs of ``A``'s entries, so the layer's
        manifold directions stay in the orthant pair (``A`` or ``-A``) where ``A`` starts; a random start in
        the wrong one can leave training in a poor optimum. ``x`` of shape ``(N >= 2, dim)``.
        """
        if x.dim() != 2 or x.shape[1] != self.dim or x.shape[0] < 2:
            raise ValueError(f"StochasticCoupling.initialize expects (N >= 2, {self.dim}), got {tuple(x.shape)}")
        x2 = x[:, self.n1 :].to(self.A.dtype)
        _, _, vh = torch.linalg.svd(x2 - x2.mean(0), full_matrices=False)
        self.A.copy_(vh[: self.dim_z2].mT)

    @property
    def out_dim(self) -> int:
        return self.n1 + self.dim_z2

    def conditional(self, x1: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(a, b, log_sigma)`` of ``p(x_2 | z_2; x_1)``, each ``(N, n_2)``."""
        h = self.net(x1)
        a, b, ls = h[:, 0::3], h[:, 1::3], h[:, 2::3]
        c = self.clamp
        return c * torch.tanh(a / c), b, self.log_sigma_init + c * torch.tanh(ls / c)

    def _terms(self, x: Tensor, prior_precision: float = 0.0):
        """``(x_1, mean, cholesky, log_value)`` of :func:`nif_terms` on ``x' = D^-1 (x_2 - b)``;
        ``log_value`` includes the change of variables ``-sum(a)``: the manifold term (``c = 0``) or
        ``log int N(z_2 | 0, I) p(x_2 | z_2; x_1) dz_2`` (``c = 1``)."""
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"StochasticCoupling built for (N, {self.dim}), got {tuple(x.shape)}")
        x1, x2 = x[:, : self.n1], x[:, self.n1 :]
        a, b, log_sigma = self.conditional(x1)
        dtype = self.compute_dtype or x.dtype
        x_scaled = ((x2 - b) * (-a).exp()).to(dtype)
        op = DenseOperator(self.A.to(dtype))
        t = nif_terms(x_scaled, op, x_scaled.new_zeros(()), (log_sigma - 2 * a).to(dtype), prior_precision)
        return x1, t.mean.to(x.dtype), t.cholesky, t.log_value.to(x.dtype) - a.sum(-1)

    def forward(
        self, x: Tensor, generator: torch.Generator | None = None, sample: bool = True
    ) -> tuple[Tensor, Tensor]:
        """``x -> (z, manifold term)`` with ``z = (x_1, z_2)``, ``z_2 ~ q(z_2 | x_2; x_1)`` (reparameterised),
        or its mode ``z_2+`` when ``sample=False``."""
        x1, mean, chol, manifold = self._terms(x)
        z2 = mean
        if sample:
            eps = torch.randn(mean.shape, generator=generator, device=x.device, dtype=chol.dtype)
            dz = torch.linalg.solve_triangular(chol.mT, eps.unsqueeze(-2).unsqueeze(-1), upper=True)
            z2 = mean + dz.reshape(mean.shape).to(x.dtype)
        return torch.cat([x1, z2], 1), manifold

    def log_stochastic_inverse(self, z: Tensor, x: Tensor) -> Tensor:
        """``log q(z_2 | x_2; x_1)`` for ``z = (x_1, z_2)``, ``(N,)``; ``z`` of shape ``(N, out_dim)``."""
        if tuple(z.shape) != (x.shape[0], self.out_dim):
            raise _checks.error(
                "StochasticCoupling.log_stochastic_inverse",
                "z",
                f"of shape ({x.shape[0]}, {self.out_dim}) (N of x, out_dim)",
                f"shape {tuple(z.shape)}",
            )
        _, mean, chol, _ = self._terms(x)
        d = (z[:, self.n1 :] - mean).to(chol.dtype).unsqueeze(-2).unsqueeze(-1)
        w = (chol.mT @ d).flatten(1)
        logdet = 2.0 * torch.diagonal(chol, dim1=-2, dim2=-1).log().flatten(1).sum(-1)
        return (-0.5 * (w.square().sum(-1) - logdet + self.dim_z2 * LOG_2PI)).to(x.dtype)

    def log_likelihood(self, x: Tensor) -> Tensor:
        """Exact ``log p(x)``, ``(N,)``, when the layer's output ``z = (x_1, z_2)`` has the prior ``N(0, I)``:
        ``log N(x_1 | 0, I) + log N(x_2 | b, D A A^T D + Sigma)`` (eq. 13 per ``x_1``, exact constant)."""
        x1, _, _, log_p2 = self._terms(x, 1.0)
        return -0.5 * (x1.square().sum(-1) + self.n1 * LOG_2PI) + log_p2

    def bound(self, x: Tensor) -> Tensor:
        """The lower bound of eq. 9 with the prior ``N(0, I)`` on ``z = (x_1, z_2)``, ``(N,)``:
        ``E_q[log N(z | 0, I)] + log int p(x_2 | z_2; x_1) dz_2`` with the expectation under the stochastic
        inverse in closed form. ``log_likelihood(x) - bound(x) = KL(q(z_2 | x) || p(z_2 | x)) >= 0``.
        """
        x1, mean, chol, manifold = self._terms(x)
        eye = torch.eye(self.dim_z2, dtype=chol.dtype, device=chol.device)
        # tr(Lambda^-1) = ||L^-1||_F^2 with Lambda = L L^T
        trace = torch.linalg.solve_triangular(chol, eye, upper=False).square().flatten(1).sum(-1)
        expected_sq = x1.square().sum(-1) + mean.square().sum(-1) + trace.to(x.dtype)
        return -0.5 * (expected_sq + self.out_dim * LOG_2PI) + manifold

    def inverse(self, z: Tensor, s: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """``z -> x``: ``x_2 ~ N(diag(e^a) A z_2 + b, s Sigma)``; ``s = 0`` returns the manifold point."""
        if z.dim() != 2 or z.shape[1] != self.out_dim:
            raise ValueError(f"StochasticCoupling.inverse expects (N, {self.out_dim}), got {tuple(z.shape)}")
        _checks.real("StochasticCoupling.inverse", "s", s, low=0.0, expected=">= 0 (finite)")
        x1, z2 = z[:, : self.n1], z[:, self.n1 :]
        a, b, log_sigma = self.conditional(x1)
        x2 = a.exp() * (z2 @ self.A.mT) + b
        if s > 0:
            eps = torch.randn(x2.shape, generator=generator, device=z.device, dtype=z.dtype)
            x2 = x2 + math.sqrt(s) * (0.5 * log_sigma).exp() * eps
        return torch.cat([x1, x2], 1)
