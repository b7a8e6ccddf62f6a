"""The Gaussian noisy injective flow (NIF) layer in closed form (Cunningham et al., sections 4, 4.3, A.6-A.7).

The generative story (eq. 11) is ``z ~ N(0, I)``, ``x = A z + b + eps`` with ``eps ~ N(0, Sigma)``:

    p(x | z) = N(x | A z + b, Sigma),   A in R^{dim_x x dim_z},  dim_z <= dim_x,  Sigma diagonal.

With ``mu = x - b``, ``Lambda = A^T Sigma^-1 A`` and ``u = A^T Sigma^-1 mu`` (eq. 12):

* the **stochastic inverse** is ``q(z | x) = N(z | Lambda^-1 u, Lambda^-1)`` -- the likelihood normalised
  over ``z`` (eq. 7), *not* the posterior ``p(z | x) = N((I + Lambda)^-1 u, (I + Lambda)^-1)``;
* its mode, the **pseudo-inverse** ``z+ = Lambda^-1 u`` (eq. 58), minimises ``||x - A z - b||^2_{Sigma^-1}``
  (proposition 1);
* the **manifold term** ``log int p(x | z) dz = log Z_z - log Z_x`` (eq. 12);
* with the unit Gaussian prior, the **log-likelihood** ``log p(x) = log N(x | b, A A^T + Sigma)`` (eq. 13).

Numerics. Every quantity comes from one routine, :func:`nif_terms`: a Cholesky factorisation of the
(block-diagonal) precision ``P = Lambda + c I`` (``c = 0`` for the stochastic inverse, ``c = 1`` for the
posterior), its log-determinant from the factor's diagonal, and the quadratic forms written as residuals,

    mu^T Sigma^-1 mu - u^T P^-1 u = ||mu - A zhat||^2_{Sigma^-1} + c ||zhat||^2,   zhat = P^-1 u,

which are sums of non-negative terms (no cancellation between two large numbers when Sigma is small).
A ``compute_dtype`` (e.g. ``torch.float64``) runs this routine in higher precision for float32 models.

Note on eq. 13 as printed: with ``log Z^_z`` defined there (``+ dim(z)/2 log 2 pi``) the printed
``p(x) = exp(log Z^_z - log Z_x)`` omits the normaliser ``-dim(z)/2 log 2 pi`` of the prior that appears
in eq. 53; the two cancel, and the exact marginal is ``log p(x) = 1/2 u^T (I + Lambda)^-1 u
- 1/2 log|I + Lambda| - log Z_x``. That is what :meth:`LinearGaussianNIF.log_likelihood` returns (the
tests check it against ``log N(x | b, A A^T + Sigma)``).

The linear map ``A`` is abstract (:class:`LinearGaussianNIF`): :class:`GaussianNIF` stores it as a dense
matrix (``O(dim_z^3)``); :class:`latentkit.nif.upsample.UpsampleNIF` applies nearest-neighbour upsampling
without forming it (``O(dim_z)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from latentkit import _checks

__all__ = ["NIFTerms", "nif_terms", "DenseOperator", "LinearGaussianNIF", "GaussianNIF", "log_normal_diag"]

LOG_2PI = math.log(2.0 * math.pi)


class NIFTerms(NamedTuple):
    """What :func:`nif_terms` returns, in the block layout of the operator.

    Attributes:
        mean: ``P^-1 u``, shape ``(N, *z_shape)`` (``z+`` when ``prior_precision = 0``).
        cholesky: lower Cholesky factor of ``P = Lambda + c I``, shape ``(N or 1, B, k, k)``: ``B`` blocks
            of size ``k`` (one block of size ``dim_z`` for a dense ``A``).
        log_value: ``(N,)``; ``log int p(x|z) dz`` (``c = 0``, eq. 12) or ``log int N(z|0,I) p(x|z) dz``
            (``c = 1``, eq. 13).
    """

    mean: Tensor
    cholesky: Tensor
    log_value: Tensor


@dataclass(frozen=True)
class DenseOperator:
    """``A`` as an explicit ``(dim_x, dim_z)`` matrix acting on flat vectors ``(N, dim_x)``, ``(N, dim_z)``.

    ``Lambda`` is a single ``(dim_z, dim_z)`` block.
    """

    matrix: Tensor

    def __post_init__(self) -> None:
        if self.matrix.dim() != 2:
            raise _checks.error(
                "DenseOperator", "matrix", "a (dim_x, dim_z) matrix", f"shape {tuple(self.matrix.shape)}"
            )

    @property
    def dim_z(self) -> int:
        return self.matrix.shape[1]

    def matvec(self, z: Tensor) -> Tensor:
        """``A z`` for ``z`` of shape ``(N, dim_z)``."""
        return z @ self.matrix.mT

    def rmatvec(self, v: Tensor) -> Tensor:
        """``A^T v`` for ``v`` of shape ``(N, dim_x)``."""
        return v @ self.matrix

    def gram(self, weights: Tensor) -> Tensor:
        """Blocks of ``A^T diag(w) A``: ``(1, 1, dim_z, dim_z)``, or ``(N, 1, ...)`` for per-example
        weights ``w`` of shape ``(N, dim_x)``."""
        a = self.matrix
        g = a.mT @ (weights.unsqueeze(-1) * a)
        return g.reshape(-1, 1, a.shape[1], a.shape[1])

    def to_blocks(self, z: Tensor) -> Tensor:
        return z.unsqueeze(-2)

    def from_blocks(self, zb: Tensor) -> Tensor:
        return zb.squeeze(-2)


def log_normal_diag(x: Tensor, mean: Tensor, log_var: Tensor, event_dims: int) -> Tensor:
    """``log N(x | mean, diag(exp(log_var)))`` summed over the last ``event_dims`` dimensions."""
    d = (x - mean).square() * torch.exp(-log_var) + log_var + LOG_2PI
    return -0.5 * d.flatten(start_dim=d.dim() - event_dims).sum(-1)


def nif_terms(x: Tensor, operator, b: Tensor, log_sigma: Tensor, prior_precision: float = 0.0) -> NIFTerms:
    """The shared closed form of eqs. 12-13 and 58 for ``p(x|z) = N(x | A z + b, diag(exp(log_sigma)))``.

    Arguments:
        x: data, ``(N, *x_shape)``.
        operator: ``A`` (:class:`DenseOperator` or the upsampling operator): ``matvec``, ``rmatvec``,
            ``gram``, ``to_blocks``, ``from_blocks``, ``dim_z``.
        b: offset, broadcastable to ``x``.
        log_sigma: log of the diagonal of ``Sigma`` (variances), ``x_shape`` or ``(N, *x_shape)``.
        prior_precision: ``c`` in ``P = Lambda + c I``: ``0`` for the stochastic inverse and the manifold
            term (eq. 12), ``1`` for the unit-Gaussian prior's posterior and marginal (eq. 13).

    Returns:
        :class:`NIFTerms`.

    Checked: ``x`` a batch ``(N >= 1, *x_shape)``, ``log_sigma`` of shape ``x_shape`` or ``x``'s,
    ``prior_precision`` a number ``>= 0``; values are not (this runs on every training step).
    """
    _checks.batch("nif_terms", "x", x)
    if tuple(log_sigma.shape) not in (tuple(x.shape[1:]), tuple(x.shape)):
        raise _checks.error(
            "nif_terms",
            "log_sigma",
            f"of shape {tuple(x.shape[1:])} or {tuple(x.shape)} (x_shape or x's)",
            f"shape {tuple(log_sigma.shape)}",
        )
    _checks.real("nif_terms", "prior_precision", prior_precision, low=0.0)
    event_dims = x.dim() - 1
    mu = x - b
    prec = torch.exp(-log_sigma)  # Sigma^-1 (diagonal)
    u = operator.to_blocks(operator.rmatvec(mu * prec))  # A^T Sigma^-1 mu, (N, B, k)
    lam = operator.gram(prec.reshape(-1, *x.shape[1:]) if log_sigma.dim() == x.dim() else prec)
    if prior_precision:
        lam = lam + prior_precision * torch.eye(lam.shape[-1], dtype=lam.dtype, device=lam.device)
    chol, info = torch.linalg.cholesky_ex(lam)
    if bool((info > 0).any()):
        raise ValueError(
            "Lambda = A^T Sigma^-1 A is not positive definite: A must have full column rank "
            "(dim_z <= dim_x and independent columns)"
        )
    zhat_b = torch.cholesky_solve(u.unsqueeze(-1), chol).squeeze(-1)
    zhat = operator.from_blocks(zhat_b)
    resid = mu - operator.matvec(zhat)
    quad = (resid.square() * prec).flatten(start_dim=1).sum(-1)
    if prior_precision:
        quad = quad + prior_precision * zhat_b.flatten(start_dim=1).square().sum(-1)
    logdet_p = 2.0 * torch.diagonal(chol, dim1=-2, dim2=-1).log().flatten(start_dim=1).sum(-1)
    logdet_sigma = log_sigma.flatten(start_dim=log_sigma.dim() - event_dims).sum(-1)
    dim_x = math.prod(x.shape[1:])
    dim_z = operator.dim_z
    n_const = dim_x - (0 if prior_precision else dim_z)
    log_value = -0.5 * (quad + logdet_p + logdet_sigma + n_const * LOG_2PI)
    return NIFTerms(zhat, chol, log_value)


class LinearGaussianNIF(nn.Module):
    """Base class of Gaussian NIF layers ``p(x|z) = N(x | A z + b, Sigma)`` with a linear ``A``.

    Subclasses provide :meth:`operator` (``A`` as an object with ``matvec`` / ``rmatvec`` / ``gram`` /
    block layout) and the parameters ``b`` and ``log_sigma`` (log of Sigma's diagonal, shaped like one
    example ``x``); everything else is shared. ``compute_dtype`` (e.g. ``torch.float64``) runs the
    Cholesky algebra in that dtype and casts the results back.
    """

    x_shape: tuple[int, ...]
    z_shape: tuple[int, ...]
    b: Tensor
    log_sigma: Tensor

    def __init__(self, compute_dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.compute_dtype = compute_dtype

    # -- to be provided -------------------------------------------------------------------------------
    def operator(self, dtype: torch.dtype | None = None):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------------
    @property
    def dim_x(self) -> int:
        return math.prod(self.x_shape)

    @property
    def dim_z(self) -> int:
        return math.prod(self.z_shape)

    @property
    def sigma(self) -> Tensor:
        """The diagonal of ``Sigma`` (variances), shaped like one example."""
        return self.log_sigma.exp()

    def _check_x(self, x: Tensor) -> None:
        if tuple(x.shape[1:]) != self.x_shape:
            raise ValueError(
                f"{type(self).__name__} expects x of shape (N, {', '.join(map(str, self.x_shape))}), "
                f"got {tuple(x.shape)}"
            )

    def _check_z(self, z: Tensor) -> None:
        if tuple(z.shape[1:]) != self.z_shape:
            raise ValueError(
                f"{type(self).__name__} has latents of shape {self.z_shape} (dim_z={self.dim_z}), "
                f"got z of shape {tuple(z.shape)}"
            )

    def _dtype(self, x: Tensor) -> torch.dtype:
        """Dtype of the algebra: ``compute_dtype``, else that of ``x`` (at least float32: never bf16/fp16)."""
        if self.compute_dtype is not None:
            return self.compute_dtype
        return x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32

    def _terms(self, x: Tensor, prior_precision: float) -> NIFTerms:
        self._check_x(x)
        dtype = self._dtype(x)
        with torch.autocast(x.device.type, enabled=False):  # Cholesky factorisations are not for half precision
            t = nif_terms(
                x.to(dtype), self.operator(dtype), self.b.to(dtype), self.log_sigma.to(dtype), prior_precision
            )
        return NIFTerms(t.mean.to(x.dtype), t.cholesky, t.log_value.to(x.dtype))

    def log_likelihood(self, x: Tensor) -> Tensor:
        """``log p(x) = log int N(z|0,I) N(x|Az+b,Sigma) dz = log N(x | b, A A^T + Sigma)`` (eq. 13), ``(N,)``."""
        return self._terms(x, 1.0).log_value

    def manifold_term(self, x: Tensor) -> Tensor:
        """``log int p(x|z) dz = log Z_z - log Z_x`` (eq. 12), ``(N,)``: the stochastic layer's "log-det"."""
        return self._terms(x, 0.0).log_value

    def pseudo_inverse(self, x: Tensor) -> Tensor:
        """``z+ = Lambda^-1 u`` (eq. 58): mode and mean of ``q(z|x)``, the Sigma-weighted least-squares fit
        ``argmin_z ||x - A z - b||^2_{Sigma^-1}`` (proposition 1), ``(N, *z_shape)``."""
        return self._terms(x, 0.0).mean

    def stochastic_inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``q(z|x) = N(Lambda^-1 u, Lambda^-1)`` (eq. 12) as ``(mean, cholesky of Lambda)``.

        The Cholesky factor ``L`` of the *precision* has the block layout of the operator (see
        :class:`NIFTerms`); :meth:`sample_stochastic_inverse` and :meth:`log_stochastic_inverse` use it.
        """
        t = self._terms(x, 0.0)
        return t.mean, t.cholesky

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The true posterior under the unit Gaussian prior, ``N((I + Lambda)^-1 u, (I + Lambda)^-1)``,
        as ``(mean, cholesky of I + Lambda)`` -- for comparison with the stochastic inverse."""
        t = self._terms(x, 1.0)
        return t.mean, t.cholesky

    def _gaussian_from_precision(self, mean: Tensor, chol: Tensor, eps: Tensor) -> Tensor:
        op = self.operator(chol.dtype)
        # z = mean + L^-T eps has covariance (L L^T)^-1.
        e = op.to_blocks(eps.to(chol.dtype)).unsqueeze(-1)
        dz = torch.linalg.solve_triangular(chol.mT, e, upper=True).squeeze(-1)
        return mean + op.from_blocks(dz).to(mean.dtype)

    def sample_stochastic_inverse(
        self, x: Tensor, generator: torch.Generator | None = None, posterior: bool = False
    ) -> Tensor:
        """Draw ``z ~ q(z|x)`` (or ``p(z|x)`` when ``posterior``), reparameterised: gradients flow."""
        mean, chol = self.posterior(x) if posterior else self.stochastic_inverse(x)
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return self._gaussian_from_precision(mean, chol, eps)

    def log_stochastic_inverse(self, z: Tensor, x: Tensor, posterior: bool = False) -> Tensor:
        """``log q(z|x)`` (or ``log p(z|x)`` when ``posterior``), ``(N,)``; ``z`` and ``x`` of the same batch size."""
        self._check_z(z)
        if z.shape[0] != x.shape[0]:
            raise _checks.error(
                f"{type(self).__name__}.log_stochastic_inverse",
                "z",
                f"of batch size {x.shape[0]} (that of x)",
                f"batch size {z.shape[0]}",
            )
        mean, chol = self.posterior(x) if posterior else self.stochastic_inverse(x)
        op = self.operator(chol.dtype)
        d = op.to_blocks((z - mean).to(chol.dtype)).unsqueeze(-1)
        w = (chol.mT @ d).squeeze(-1)  # L^T (z - mean): ||w||^2 = (z-m)^T Lambda (z-m)
        logdet = 2.0 * torch.diagonal(chol, dim1=-2, dim2=-1).log().flatten(start_dim=1).sum(-1)
        out = -0.5 * (w.flatten(start_dim=1).square().sum(-1) - logdet + self.dim_z * LOG_2PI)
        return out.to(x.dtype)

    def manifold_point(self, z: Tensor) -> Tensor:
        """``A z + b``: the point of the learned manifold (a hyperplane) indexed by ``z``."""
        self._check_z(z)
        dtype = self._dtype(z)
        return (self.operator(dtype).matvec(z.to(dtype)) + self.b.to(dtype)).to(z.dtype)

    def project(self, x: Tensor) -> Tensor:
        """``A z+ + b``: the Sigma-weighted projection of ``x`` onto the manifold."""
        return self.manifold_point(self.pseudo_inverse(x))

    def decode(self, z: Tensor, s: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """``x ~ N(A z + b, s Sigma)``: ``s = 0`` returns the manifold point, ``s = 1`` samples the model."""
        _checks.real(f"{type(self).__name__}.decode", "s", s, low=0.0, expected=">= 0 (finite)")
        x = self.manifold_point(z)
        if s > 0:
            eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = x + math.sqrt(s) * (0.5 * self.log_sigma).exp().to(x.dtype) * eps
        return x

    def sample_prior(self, n: int, t: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """``z ~ N(0, t I)``: temperature ``t`` scales the prior's *variance*."""
        where = f"{type(self).__name__}.sample_prior"
        _checks.integer(where, "n", n, low=0)
        _checks.real(where, "t", t, low=0.0, expected=">= 0 (finite; a temperature)")
        z = torch.randn((n, *self.z_shape), generator=generator, device=self.b.device, dtype=self.b.dtype)
        return math.sqrt(t) * z

    def sample(self, n: int, s: float = 1.0, t: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """``x ~ N(A z + b, s Sigma)`` with ``z ~ N(0, t I)`` (section 5.2: ``s``; section 5.1: ``t``)."""
        return self.decode(self.sample_prior(n, t, generator), s, generator)

    def forward(self, x: Tensor) -> Tensor:
        """Same as :meth:`log_likelihood`."""
        return self.log_likelihood(x)


class GaussianNIF(LinearGaussianNIF):
    """Gaussian NIF with a dense, learnable ``A`` (eqs. 11-13); cost ``O(dim_x dim_z^2 + dim_z^3)``.

    Arguments:
        dim_x: dimension of ``x`` (flat vectors).
        dim_z: dimension of ``z``; must satisfy ``1 <= dim_z <= dim_x``.
        init_scale: ``A`` starts as ``init_scale`` times a random matrix with orthonormal columns,
            ``b = 0`` and ``Sigma = I``; finite and non-zero (``A = 0`` has no column rank).
        compute_dtype: dtype of the Cholesky algebra (``None``: that of the input).

    Example:
        >>> nif = GaussianNIF(dim_x=5, dim_z=2)
        >>> x = torch.randn(3, 5)
        >>> nif.log_likelihood(x).shape, nif.pseudo_inverse(x).shape
        (torch.Size([3]), torch.Size([3, 2]))
    """

    def __init__(
        self, dim_x: int, dim_z: int, init_scale: float = 1.0, compute_dtype: torch.dtype | None = None
    ) -> None:
        super().__init__(compute_dtype)
        _checks.integer("GaussianNIF", "dim_x", dim_x, low=1)
        _checks.integer("GaussianNIF", "dim_z", dim_z)
        if not 1 <= dim_z <= dim_x:
            raise ValueError(
                f"GaussianNIF: dim_z must be in [1, dim_x] (a Gaussian NIF needs 1 <= dim_z <= dim_x), "
                f"got dim_z={dim_z}, dim_x={dim_x}"
            )
        if _checks.real("GaussianNIF", "init_scale", init_scale, expected="finite and non-zero") == 0.0:
            raise _checks.error("GaussianNIF", "init_scale", "finite and non-zero", repr(init_scale))
        self.x_shape, self.z_shape = (dim_x,), (dim_z,)
        q, _ = torch.linalg.qr(torch.randn(dim_x, dim_z))
        self.A = nn.Parameter(init_scale * q)
        self.b = nn.Parameter(torch.zeros(dim_x))
        self.log_sigma = nn.Parameter(torch.zeros(dim_x))

    def operator(self, dtype: torch.dtype | None = None) -> DenseOperator:
        return DenseOperator(self.A if dtype is None else self.A.to(dtype))

    @classmethod
    def from_parameters(
        cls, A: Tensor, b: Tensor, sigma: Tensor, compute_dtype: torch.dtype | None = None
    ) -> GaussianNIF:
        """A layer with the given ``A`` (``dim_x x dim_z``), ``b`` and diagonal ``Sigma`` (variances).

        ``A`` a finite ``(dim_x, dim_z)`` matrix with ``1 <= dim_z <= dim_x`` (its rank is checked where it is
        used), ``b`` finite of shape ``(dim_x,)``, ``sigma`` finite and ``> 0`` of shape ``(dim_x,)``.
        """
        where = f"{cls.__name__}.from_parameters"
        if A.dim() != 2 or not 1 <= A.shape[1] <= A.shape[0]:
            raise _checks.error(
                where, "A", "a (dim_x, dim_z) matrix with 1 <= dim_z <= dim_x", f"shape {tuple(A.shape)}"
            )
        _checks.finite(where, "A", A)
        for name, v in (("b", b), ("sigma", sigma)):
            if tuple(v.shape) != (A.shape[0],):
                raise _checks.error(where, name, f"of shape ({A.shape[0]},) (dim_x)", f"shape {tuple(v.shape)}")
        _checks.finite(where, "b", b)
        _checks.values(where, "sigma", sigma, low=0.0, low_open=True)
        layer = cls(A.shape[0], A.shape[1], compute_dtype=compute_dtype).to(A.dtype)
        with torch.no_grad():
            layer.A.copy_(A)
            layer.b.copy_(b)
            layer.log_sigma.copy_(sigma.log())
        return layer

    def extra_repr(self) -> str:
        return f"dim_x={self.dim_x}, dim_z={self.dim_z}"
