"""Public functions of latentkit.score, latentkit.nif and latentkit.metrics refuse bad input (issue 15).

One table: each row calls one public function with one bad input and expects a ``ValueError`` whose message
names the function's argument (``"<function>: <argument> must be <expected>, got <value>"``); each function
also has a control row with good input, which must pass (so a check that refused everything would fail).
Objects are built inside the rows, so that a failure points at one row.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from latentkit import metrics
from latentkit.nif import (
    ActNorm,
    AffineCoupling,
    DeepNIFPrior,
    FlowModel,
    GaussianNIF,
    InvConv1x1,
    MultiscaleFlow,
    NIFPrior,
    Squeeze,
    StochasticCoupling,
    UnitGaussianPrior,
    UpsampleNIF,
    bin_centres,
    build_model,
    dequantize,
    glow_step,
    nif_terms,
    quantize,
    to_image,
    upsampling_matrix,
)
from latentkit.nif.gaussian import DenseOperator
from latentkit.score import (
    VESDE,
    CodeConditionedScore,
    DensityT,
    FixedT,
    GaussianFourierProjection,
    ImageEncoder,
    MLPEncoder,
    ScoreMLP,
    ScoreUNet,
    UniformSigma,
    UniformT,
    code_penalty,
    dsm_constant,
    dsm_loss,
    esm_loss,
    euler_maruyama_step,
    get_t_sampler,
    get_weighting,
    kl_penalty,
    l1_penalty,
    langevin_step,
    model_score,
    perturb,
    representation_loss,
    reverse_sde_sample,
    score_matching_terms,
    weighted_dsm_constant,
)
from latentkit.score.exact import MixtureMarginals

torch.set_num_threads(1)
NAN = float("nan")


def sde() -> VESDE:
    return VESDE()


def mlp(cond_dim: int = 0) -> ScoreMLP:
    torch.manual_seed(0)
    return ScoreMLP(2, hidden=8, depth=1, emb_dim=8, cond_dim=cond_dim)


def x0(b: int = 6, d: int = 2) -> torch.Tensor:
    return torch.randn(b, d, generator=torch.Generator().manual_seed(1))


def exact() -> MixtureMarginals:
    return MixtureMarginals(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]), stds=0.5)


def flat_model(x, std, cond=None):  # (B,): would broadcast against (B, d)
    return x.sum(1)


def column_model(x, std, cond=None):  # (B, 1): would broadcast against (B, d)
    return x[:, :1]


def score_fn(x, t):
    return -x


def nif() -> GaussianNIF:
    torch.manual_seed(0)
    return GaussianNIF(4, 2)


def coupling() -> StochasticCoupling:
    torch.manual_seed(0)
    return StochasticCoupling(4, dim_z2=1, hidden=8)


def code_model() -> CodeConditionedScore:
    torch.manual_seed(0)
    return CodeConditionedScore(mlp(cond_dim=2), MLPEncoder(2, latent_dim=2, hidden=8))


def stand_in_run():
    """What the evaluation helpers use of a :class:`~latentkit.score.represent.ReprRun`, untrained."""
    model = code_model()
    x = x0(8)
    return SimpleNamespace(
        sde=sde(),
        model=model,
        score_model=model.score,
        encoder=model.encoder,
        train_data=SimpleNamespace(x=x, y=None),
        config=SimpleNamespace(weighting="kernel_variance", code="deterministic"),
        empirical=lambda: MixtureMarginals.empirical(x),
        encode=model.encoder.encode,
        condition=lambda x0, y: model.encoder.encode(x0),
    )


def labels(n: int = 20) -> np.ndarray:
    return np.arange(n) % 2


def codes(n: int = 20, f: int = 3) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, f)) + 3 * labels(n)[:, None]


def inception_or_missing(*args, **kwargs):
    """The Inception FID passes its checks when it gets as far as the network (absent offline)."""
    try:
        return metrics.inception_frechet_distance(*args, **kwargs)
    except (ImportError, FileNotFoundError):
        return None


fd, fid = metrics.frechet_distance_gaussians, metrics.inception_frechet_distance
ROWS: list = []


def row(name: str, call, match: str | None = None) -> None:
    """A bad input (``match``: the expected message) or, with ``match=None``, a control that must pass."""
    ROWS.append(pytest.param(call, match, id=f"{name}-{'ok' if match is None else len(ROWS)}"))


# =============================================================================== latentkit.score: the SDE
row("VESDE", lambda: VESDE(sigma_min=0.01, sigma_max=50.0, eps=1e-5))
row("VESDE", lambda: VESDE(sigma_min=-1.0), r"VESDE: sigma_min must be a finite number > 0, got -1.0")
row("VESDE", lambda: VESDE(sigma_max=NAN), r"VESDE: sigma_max must be finite")
row("VESDE", lambda: VESDE(sigma_min=1.0, sigma_max=0.5), r"VESDE: sigma_max .*sigma_min < sigma_max")
row("VESDE", lambda: VESDE(eps=-1e-3), r"VESDE: eps must be in \[0, 1\)")
row("VESDE.std_inverse", lambda: sde().std_inverse(torch.tensor([0.0, 1.0, 50.0])))
row("VESDE.std_inverse", lambda: sde().std_inverse(torch.tensor(-1.0)), r"std_inverse: std must be finite and >= 0")
row("VESDE.std_inverse", lambda: sde().std_inverse(torch.tensor([1.0, NAN])), r"std_inverse: std must be finite")

# ====================================================================== latentkit.score: t-samplers, loss
row("UniformT", lambda: UniformT(sde())(4))
row("UniformT", lambda: UniformT(sde(), t_min=-0.1), r"UniformT: t_min must be in \[0, 1\)")
row("UniformT", lambda: UniformT(sde(), t_max=2.0), r"UniformT: t_max must be finite, > t_min = 1e-05 and <= T = 1")
row("UniformT", lambda: UniformT(t_min=0.5, t_max=0.5), r"UniformT: t_max must be finite, > t_min = 0.5")
row("UniformT", lambda: UniformT(sde())(-1), r"UniformT: n must be an int >= 0, got -1")
row("UniformSigma", lambda: UniformSigma(sde())(4))
row("UniformSigma", lambda: UniformSigma(sde(), t_max=NAN), r"UniformSigma: t_max must be finite")
row("FixedT", lambda: FixedT(0.5)(4))
row("FixedT", lambda: FixedT(0.0), r"FixedT: t must be a finite number > 0, got 0.0")
row("FixedT", lambda: FixedT(NAN), r"FixedT: t must be a finite number > 0, got nan")
row("DensityT", lambda: DensityT(lambda t: t, sde())(4))
row("DensityT", lambda: DensityT(lambda t: t, sde(), grid=1), r"DensityT: grid must be an int >= 2, got 1")
row("DensityT", lambda: DensityT(lambda t: t, t_min=0.5, t_max=0.2), r"DensityT: t_max must be finite, > t_min")
row("DensityT", lambda: DensityT(lambda t: t - 0.5, t_min=0.0, t_max=1.0), r"DensityT: pdf must return finite")
row("get_t_sampler", lambda: get_t_sampler("fixed", sde(), t=0.5))
row(
    "get_t_sampler",
    lambda: get_t_sampler("fixed", sde(), t=2.0),
    r"get_t_sampler: t must be in \(0, T\] = \(0, 1\], got 2.0",
)
row("get_t_sampler", lambda: get_t_sampler("beta", sde()), r"unknown t-sampler 'beta'")
row("get_weighting", lambda: get_weighting("unit", sde()))
row("get_weighting", lambda: get_weighting("sigma", sde()), r"unknown weighting 'sigma'")
row("perturb", lambda: perturb(x0(), sde(), t=0.5))
row("perturb", lambda: perturb(x0()[:, 0], sde()), r"perturb: x0 must be a batch of shape \(B >= 1, \*event\)")
row("perturb", lambda: perturb(x0(0), sde()), r"perturb: x0 must be a batch .*got shape \(0, 2\)")
row("perturb", lambda: perturb(x0(), sde(), noise=torch.zeros(6, 1)), r"perturb: noise must be of the shape of x0")
row(
    "perturb",
    lambda: perturb(x0(), sde(), t=torch.full((6, 1), 0.5)),
    r"perturb: t must be a scalar or of shape \(6,\)",
)
row("perturb", lambda: perturb(x0(), sde(), t=0.0), r"perturb: t must be in \(0, T\] = \(0, 1\], got 0.0")
row("perturb", lambda: perturb(x0(), sde(), t=NAN), r"perturb: t must be in \(0, T\] = \(0, 1\], got nan")
row("model_score", lambda: model_score(mlp(), sde(), x0(), torch.full((6,), 0.5)))
row(
    "model_score",
    lambda: model_score(flat_model, sde(), x0(), torch.full((6,), 0.5)),
    r"model_score: model's output must be of the shape of x, \(6, 2\), got shape \(6,\)",
)
row("dsm_loss", lambda: dsm_loss(mlp(), x0(), sde()))
row("dsm_loss", lambda: dsm_loss(flat_model, x0(), sde()), r"dsm_loss: model's output must be of the shape of x0")
row("dsm_loss", lambda: dsm_loss(column_model, x0(), sde()), r"dsm_loss: model's output .*got shape \(6, 1\)")
row("dsm_loss", lambda: dsm_loss(mlp(), x0()[:, 0], sde()), r"dsm_loss: x0 must be a batch")
row("dsm_loss", lambda: dsm_loss(mlp(), x0(), sde(), noise=torch.zeros(6)), r"dsm_loss: noise must be of the shape")
row("dsm_loss", lambda: dsm_loss(mlp(), x0(), sde(), t=2.0), r"dsm_loss: t must be in \(0, T\] = \(0, 1\], got 2.0")
row("dsm_loss", lambda: dsm_loss(mlp(), x0(), sde(), t=torch.full((3,), 0.5)), r"dsm_loss: t must be a scalar or")
row(
    "dsm_loss", lambda: dsm_loss(mlp(2), x0(), sde(), cond=torch.zeros(3, 2)), r"dsm_loss: cond must be of batch size 6"
)
row("dsm_loss", lambda: dsm_loss(mlp(), x0(), sde(), reduction="sum"), r"dsm_loss: reduction must be one of 'mean'")

# ================================================================== latentkit.score: exact scores, the constant
row("score_matching_terms", lambda: score_matching_terms(mlp(), x0(), sde(), exact()))
row(
    "score_matching_terms",
    lambda: score_matching_terms(column_model, x0(), sde(), exact()),
    r"score_matching_terms: model's output must be of the shape of x0",
)
row(
    "score_matching_terms",
    lambda: score_matching_terms(None, x0(6, 3), sde(), exact()),
    r"score_matching_terms: x0 must be of shape \(B, 2\)",
)
row(
    "score_matching_terms",
    lambda: score_matching_terms(None, x0(), sde(), exact(), noise=torch.zeros(6, 1)),
    r"score_matching_terms: noise must be of the shape of x0",
)
row(
    "score_matching_terms",
    lambda: score_matching_terms(None, x0(), sde(), exact(), t=0.0),
    r"score_matching_terms: t must be in \(0, T\] = \(0, 1\]",
)
row("esm_loss", lambda: esm_loss(mlp(), x0(), sde(), exact()))
row("esm_loss", lambda: esm_loss(flat_model, x0(), sde(), exact()), r"esm_loss: model's output must be of the shape")
row("esm_loss", lambda: esm_loss(mlp(), x0(), sde(), exact(), reduction="sum"), r"esm_loss: reduction must be one of")
row("esm_loss", lambda: esm_loss(mlp(), x0(6, 3), sde(), exact()), r"esm_loss: x0 must be of shape \(B, 2\)")
row("dsm_constant", lambda: dsm_constant(exact(), sde(), torch.tensor([0.1, 1.0]), n=8))
row("dsm_constant", lambda: dsm_constant(exact(), sde(), sde().std_inverse(torch.tensor([1e-3, 50.0])), n=8))  # 1+2e-9
row(
    "dsm_constant",
    lambda: dsm_constant(exact(), sde(), 0.0, n=8),
    r"dsm_constant: t must be in \(0, T\] = \(0, 1\], got 0.0",
)
row(
    "dsm_constant",
    lambda: dsm_constant(exact(), sde(), 2.0, n=8),
    r"dsm_constant: t must be in \(0, T\] = \(0, 1\], got 2.0",
)
row(
    "dsm_constant",
    lambda: dsm_constant(exact(), sde(), NAN, n=8),
    r"dsm_constant: t must be in \(0, T\] = \(0, 1\], got nan",
)
row(
    "dsm_constant",
    lambda: dsm_constant(exact(), sde(), torch.tensor([0.5, -1.0]), n=8),
    r"dsm_constant: t must be .*got -1.0 at index \(1,\)",
)
row("dsm_constant", lambda: dsm_constant(exact(), sde(), torch.zeros(0), n=8), r"dsm_constant: t must be a time or")
row("dsm_constant", lambda: dsm_constant(exact(), sde(), 0.5, n=1), r"dsm_constant: n must be an int >= 2, got 1")
row("dsm_constant", lambda: dsm_constant(exact(), sde(), 0.5, n=0), r"dsm_constant: n must be an int >= 2, got 0")
row("dsm_constant", lambda: dsm_constant(exact(), sde(), 0.5, n=8, batch_size=0), r"dsm_constant: batch_size must be")
row("weighted_dsm_constant", lambda: weighted_dsm_constant(exact(), sde(), n=8))
row(
    "weighted_dsm_constant",
    lambda: weighted_dsm_constant(exact(), sde(), n=1),
    r"weighted_dsm_constant: n must be an int >= 2",
)
row(
    "weighted_dsm_constant",
    lambda: weighted_dsm_constant(exact(), sde(), n=8, batch_size=-1),
    r"weighted_dsm_constant: batch_size must be an int >= 1",
)

# =========================================================================== latentkit.score: models
row("GaussianFourierProjection", lambda: GaussianFourierProjection(8)(torch.rand(3)))
row(
    "GaussianFourierProjection",
    lambda: GaussianFourierProjection(3),
    r"GaussianFourierProjection: dim must be an even int",
)
row(
    "GaussianFourierProjection",
    lambda: GaussianFourierProjection(0),
    r"GaussianFourierProjection: dim must be an int >= 2",
)
row(
    "GaussianFourierProjection",
    lambda: GaussianFourierProjection(8, scale=-1.0),
    r"GaussianFourierProjection: scale must be a finite number > 0",
)
row(
    "GaussianFourierProjection",
    lambda: GaussianFourierProjection(8)(torch.rand(3, 1)),
    r"GaussianFourierProjection: c must be of shape \(B,\)",
)
row("ScoreMLP", lambda: mlp()(x0(), torch.full((6,), 0.5)))
row("ScoreMLP", lambda: ScoreMLP(0), r"ScoreMLP: dim must be an int >= 1, got 0")
row("ScoreMLP", lambda: ScoreMLP(2, hidden=0), r"ScoreMLP: hidden must be an int >= 1")
row("ScoreMLP", lambda: ScoreMLP(2, emb_dim=7), r"ScoreMLP: emb_dim must be an even int")
row("ScoreMLP", lambda: ScoreMLP(2, sigma_data=0.0), r"ScoreMLP: sigma_data must be a finite number > 0")
row("ScoreMLP", lambda: ScoreMLP(2, cond_dim=-1), r"ScoreMLP: cond_dim must be an int >= 0")
row("ScoreMLP", lambda: mlp()(x0(6, 3), torch.full((6,), 0.5)), r"expects x of shape \(B, 2\)")
row("ScoreMLP", lambda: mlp()(x0(), torch.full((3,), 0.5)), r"std must be a scalar or of shape \(6,\)")
row("ScoreUNet", lambda: ScoreUNet(1, 4, channels=(4,), num_res_blocks=1)(torch.rand(2, 1, 4, 4), torch.ones(2)))
row("ScoreUNet", lambda: ScoreUNet(1, 4, channels=()), r"ScoreUNet: channels must be a non-empty sequence")
row("ScoreUNet", lambda: ScoreUNet(0, 4, channels=(4,)), r"ScoreUNet: in_channels must be an int >= 1")
row("ScoreUNet", lambda: ScoreUNet(1, 4, channels=(4,), dropout=1.0), r"ScoreUNet: dropout must be in \[0, 1\)")

# ======================================================================== latentkit.score: sampling
row("euler_maruyama_step", lambda: euler_maruyama_step(x0(), torch.full((6,), 0.5), 0.01, score_fn, sde(), x0()))
row(
    "euler_maruyama_step",
    lambda: euler_maruyama_step(x0(), torch.full((6,), 0.5), 0.0, score_fn, sde(), x0()),
    r"euler_maruyama_step: dt must be a finite number > 0, got 0.0",
)
row(
    "euler_maruyama_step",
    lambda: euler_maruyama_step(x0(), torch.full((6,), 0.5), 0.01, score_fn, sde(), x0(6, 1)),
    r"euler_maruyama_step: noise must be of the shape of x",
)
row(
    "euler_maruyama_step",
    lambda: euler_maruyama_step(x0(), torch.full((6,), 0.5), 0.01, lambda x, t: x.sum(1), sde(), x0()),
    r"euler_maruyama_step: score_fn's output must be",
)
row(
    "euler_maruyama_step",
    lambda: euler_maruyama_step(x0(), torch.tensor(0.5), 0.01, score_fn, sde(), x0()),
    r"euler_maruyama_step: t must be of shape \(6,\)",
)
row("langevin_step", lambda: langevin_step(x0(), torch.full((6,), 0.5), score_fn, 0.16, x0()))
row(
    "langevin_step",
    lambda: langevin_step(x0(), torch.full((6,), 0.5), score_fn, 0.0, x0()),
    r"langevin_step: snr must be a finite number > 0",
)
row(
    "langevin_step",
    lambda: langevin_step(x0(), torch.full((6,), 0.5), score_fn, 0.16, x0(6, 1)),
    r"langevin_step: noise must be of the shape of x",
)
row("reverse_sde_sample", lambda: reverse_sde_sample(score_fn, sde(), (4, 2), steps=2, corrector_steps=1))
row(
    "reverse_sde_sample",
    lambda: reverse_sde_sample(score_fn, sde(), (4, 2), steps=0),
    r"reverse_sde_sample: steps must be an int >= 1, got 0",
)
row(
    "reverse_sde_sample",
    lambda: reverse_sde_sample(score_fn, sde(), (4,), steps=2),
    r"reverse_sde_sample: shape must be",
)
row(
    "reverse_sde_sample",
    lambda: reverse_sde_sample(score_fn, sde(), (0, 2), steps=2),
    r"reverse_sde_sample: shape must be",
)
row(
    "reverse_sde_sample",
    lambda: reverse_sde_sample(score_fn, sde(), (4, 2), steps=2, corrector_steps=-1),
    r"reverse_sde_sample: corrector_steps must be an int >= 0",
)
row(
    "reverse_sde_sample",
    lambda: reverse_sde_sample(score_fn, sde(), (4, 2), steps=2, snr=-1.0),
    r"reverse_sde_sample: snr must be a finite number > 0",
)
row(
    "reverse_sde_sample",
    lambda: reverse_sde_sample(score_fn, sde(), (4, 2), steps=2, eps=-1.0),
    r"reverse_sde_sample: eps must be in \[0, t_T\)",
)
row(
    "reverse_sde_sample",
    lambda: reverse_sde_sample(score_fn, sde(), (4, 2), steps=2, t_T=2.0),
    r"reverse_sde_sample: t_T must be in \(0, T\] = \(0, 1\]",
)
row(
    "reverse_sde_sample",
    lambda: reverse_sde_sample(score_fn, sde(), (4, 2), steps=2, x_T=x0(3)),
    r"reverse_sde_sample: x_T must be of shape \(4, 2\)",
)
row(
    "reverse_sde_sample",
    lambda: reverse_sde_sample(mlp(2), sde(), (4, 2), steps=2, cond=torch.zeros(3, 2)),
    r"reverse_sde_sample: cond must be of batch size 4",
)

# ========================================================================= latentkit.score: encoders, eq. 8
row("MLPEncoder", lambda: MLPEncoder(2, latent_dim=2, hidden=8)(x0()))
row("MLPEncoder", lambda: MLPEncoder(0), r"MLPEncoder: dim must be an int >= 1")
row("MLPEncoder", lambda: MLPEncoder(2, latent_dim=0), r"MLPEncoder: latent_dim must be an int >= 1, got 0")
row("MLPEncoder", lambda: MLPEncoder(2, latent_dim=1.5), r"MLPEncoder: latent_dim must be an int >= 1, got 1.5")
row("MLPEncoder", lambda: MLPEncoder(2, depth=-1), r"MLPEncoder: depth must be an int >= 0")
row("ImageEncoder", lambda: ImageEncoder(1, 4, channels=(4,), num_res_blocks=1, hidden=8)(torch.rand(2, 1, 4, 4)))
row("ImageEncoder", lambda: ImageEncoder(1, 4, channels=()), r"ImageEncoder: channels must be a non-empty sequence")
row("ImageEncoder", lambda: ImageEncoder(1, 0, channels=(4,)), r"ImageEncoder: image_size must be an int >= 1")
row("l1_penalty", lambda: l1_penalty(x0()))
row("l1_penalty", lambda: l1_penalty(torch.ones(4)), r"l1_penalty: z must be a batch of shape \(B >= 1, \*event\)")
row("kl_penalty", lambda: kl_penalty(x0(), x0()))
row("kl_penalty", lambda: kl_penalty(x0(), x0(6, 1)), r"kl_penalty: logvar must be of the shape of mean, \(6, 2\)")
row("kl_penalty", lambda: kl_penalty(torch.zeros(0, 2), torch.zeros(0, 2)), r"kl_penalty: mean must be a batch")
row("code_penalty", lambda: code_penalty(MLPEncoder(2, latent_dim=2, hidden=8, kind="probabilistic")(x0())))
row("CodeConditionedScore", lambda: code_model()(x0(), torch.ones(6), x0=x0()))
row(
    "CodeConditionedScore", lambda: CodeConditionedScore(mlp(3), MLPEncoder(2, latent_dim=2)), r"must equal the encoder"
)
row("CodeConditionedScore", lambda: code_model()(x0(), torch.ones(6)), r"pass exactly one of x0")
row("representation_loss", lambda: representation_loss(code_model(), x0(), sde(), reg_weight=1e-5))
row(
    "representation_loss",
    lambda: representation_loss(code_model(), x0(), sde(), reg_weight=-1.0),
    r"representation_loss: reg_weight must be a finite number >= 0, got -1.0",
)
row(
    "representation_loss",
    lambda: representation_loss(code_model(), x0(), sde(), reduction="sum"),
    r"representation_loss: reduction must be one of",
)
row(
    "representation_loss",
    lambda: representation_loss(code_model(), x0(), sde(), noise=x0(6, 1)),
    r"representation_loss: noise must be of the shape of x0",
)
row(
    "representation_loss",
    lambda: representation_loss(code_model(), x0(), sde(), t=0.0),
    r"representation_loss: t must be in \(0, T\] = \(0, 1\]",
)


# ===================================================================== latentkit.score.evaluate (stand-in run)
def _evaluate():
    from latentkit.score import evaluate

    return evaluate


row("dsm_against_constant", lambda: _evaluate().dsm_against_constant(stand_in_run(), 0.5, batch_size=4))
row(
    "dsm_against_constant",
    lambda: _evaluate().dsm_against_constant(stand_in_run(), 0.0),
    r"dsm_against_constant: t must be in \(0, T\] = \(0, 1\], got 0.0",
)
row(
    "dsm_against_constant",
    lambda: _evaluate().dsm_against_constant(stand_in_run(), 0.5, n=1),
    r"dsm_against_constant: n \* repeats must be >= 2",
)
row(
    "dsm_against_constant",
    lambda: _evaluate().dsm_against_constant(stand_in_run(), 0.5, repeats=0),
    r"dsm_against_constant: repeats must be an int >= 1",
)
row(
    "dsm_against_constant",
    lambda: _evaluate().dsm_against_constant(stand_in_run(), 0.5, batch_size=0),
    r"dsm_against_constant: batch_size must be an int >= 1",
)
row("latent_grid", lambda: _evaluate().latent_grid(3))
row("latent_grid", lambda: _evaluate().latent_grid(0), r"latent_grid: n must be an int >= 1, got 0")
row("latent_grid", lambda: _evaluate().latent_grid(3, low=1.0, high=1.0), r"latent_grid: high must be finite and > low")
row("latent_grid", lambda: _evaluate().latent_grid(3, dim=3), r"2-d codes, got dim=3")
row("swap_codes", lambda: _evaluate().swap_codes(stand_in_run(), x0(2), 0.5, steps=2))
row(
    "swap_codes",
    lambda: _evaluate().swap_codes(stand_in_run(), x0(2), 1.5, steps=2),
    r"swap_codes: t must be in \(0, T\] = \(0, 1\]",
)
row(
    "swap_codes", lambda: _evaluate().swap_codes(stand_in_run(), x0(0), 0.5, steps=2), r"swap_codes: x0 must be a batch"
)
row("sample_diversity", lambda: _evaluate().sample_diversity(stand_in_run(), torch.zeros(2, 2), per_code=2, steps=2))
row(
    "sample_diversity",
    lambda: _evaluate().sample_diversity(stand_in_run(), torch.zeros(2, 2), per_code=1, steps=2),
    r"sample_diversity: per_code must be an int >= 2, got 1",
)
row(
    "sample_diversity",
    lambda: _evaluate().sample_diversity(stand_in_run(), torch.zeros(2), steps=2),
    r"sample_diversity: codes must be a batch",
)
row("sample", lambda: _evaluate().sample(stand_in_run(), torch.zeros(2, 2), steps=2))
row(
    "sample",
    lambda: _evaluate().sample(stand_in_run(), torch.zeros(2, 2), steps=0),
    r"reverse_sde_sample: steps must be",
)

# ============================================================================ latentkit.nif: Gaussian NIF
row("GaussianNIF", lambda: nif().log_likelihood(torch.randn(3, 4)))
row("GaussianNIF", lambda: GaussianNIF(3, 4), r"GaussianNIF: dim_z must be in \[1, dim_x\]")
row("GaussianNIF", lambda: GaussianNIF(0, 1), r"GaussianNIF: dim_x must be an int >= 1, got 0")
row("GaussianNIF", lambda: GaussianNIF(4, 2, init_scale=0.0), r"GaussianNIF: init_scale must be finite and non-zero")
row("GaussianNIF", lambda: GaussianNIF(4, 2, init_scale=NAN), r"GaussianNIF: init_scale must be finite and non-zero")
row("GaussianNIF.from_parameters", lambda: GaussianNIF.from_parameters(torch.eye(4, 2), torch.zeros(4), torch.ones(4)))
row(
    "GaussianNIF.from_parameters",
    lambda: GaussianNIF.from_parameters(torch.eye(4, 2), torch.zeros(4), -torch.ones(4)),
    r"GaussianNIF.from_parameters: sigma must be finite and > 0, got -1.0",
)
row(
    "GaussianNIF.from_parameters",
    lambda: GaussianNIF.from_parameters(torch.eye(4, 2), torch.zeros(4), torch.zeros(4)),
    r"GaussianNIF.from_parameters: sigma must be finite and > 0, got 0.0",
)
row(
    "GaussianNIF.from_parameters",
    lambda: GaussianNIF.from_parameters(torch.eye(4, 2), torch.zeros(1), torch.ones(4)),
    r"GaussianNIF.from_parameters: b must be of shape \(4,\)",
)
row(
    "GaussianNIF.from_parameters",
    lambda: GaussianNIF.from_parameters(torch.eye(4, 2), torch.zeros(4), torch.ones(())),
    r"GaussianNIF.from_parameters: sigma must be of shape \(4,\)",
)
row(
    "GaussianNIF.from_parameters",
    lambda: GaussianNIF.from_parameters(torch.eye(2, 4), torch.zeros(2), torch.ones(2)),
    r"GaussianNIF.from_parameters: A must be a \(dim_x, dim_z\) matrix",
)
row(
    "GaussianNIF.from_parameters",
    lambda: GaussianNIF.from_parameters(torch.full((4, 2), NAN), torch.zeros(4), torch.ones(4)),
    r"GaussianNIF.from_parameters: A must be finite",
)
row("GaussianNIF.decode", lambda: nif().decode(torch.zeros(2, 2), s=0.5))
row("GaussianNIF.decode", lambda: nif().decode(torch.zeros(2, 2), s=NAN), r"GaussianNIF.decode: s must be >= 0")
row("GaussianNIF.sample_prior", lambda: nif().sample_prior(2, t=0.5))
row("GaussianNIF.sample_prior", lambda: nif().sample_prior(2, t=-1.0), r"GaussianNIF.sample_prior: t must be >= 0")
row("GaussianNIF.sample_prior", lambda: nif().sample_prior(-1), r"GaussianNIF.sample_prior: n must be an int >= 0")
row("GaussianNIF.sample", lambda: nif().sample(2, s=0.5, t=0.5))
row("GaussianNIF.sample", lambda: nif().sample(2, s=-1.0), r"GaussianNIF.decode: s must be >= 0")
row("GaussianNIF.log_stochastic_inverse", lambda: nif().log_stochastic_inverse(torch.zeros(3, 2), torch.randn(3, 4)))
row(
    "GaussianNIF.log_stochastic_inverse",
    lambda: nif().log_stochastic_inverse(torch.zeros(1, 2), torch.randn(3, 4)),
    r"GaussianNIF.log_stochastic_inverse: z must be of batch size 3",
)
row("nif_terms", lambda: nif_terms(torch.randn(3, 4), DenseOperator(torch.eye(4, 2)), torch.zeros(4), torch.zeros(4)))
row(
    "nif_terms",
    lambda: nif_terms(
        torch.randn(3, 4), DenseOperator(torch.eye(4, 2)), torch.zeros(4), torch.zeros(4), prior_precision=-1.0
    ),
    r"nif_terms: prior_precision must be a finite number >= 0",
)
row(
    "nif_terms",
    lambda: nif_terms(torch.randn(3, 4), DenseOperator(torch.eye(4, 2)), torch.zeros(4), torch.zeros(1)),
    r"nif_terms: log_sigma must be of shape \(4,\) or \(3, 4\)",
)
row(
    "nif_terms",
    lambda: nif_terms(torch.randn(4), DenseOperator(torch.eye(4, 2)), torch.zeros(4), torch.zeros(4)),
    r"nif_terms: x must be a batch",
)
row("DenseOperator", lambda: DenseOperator(torch.eye(4, 2)).matvec(torch.ones(3, 2)))
row("DenseOperator", lambda: DenseOperator(torch.ones(3)), r"DenseOperator: matrix must be a \(dim_x, dim_z\) matrix")
row("UpsampleNIF", lambda: UpsampleNIF((2, 2, 2), factor=2).log_likelihood(torch.randn(2, 2, 4, 4)))
row("UpsampleNIF", lambda: UpsampleNIF((2, 2, 2), factor=0), r"UpsampleNIF: factor must be an int >= 1, got 0")
row("UpsampleNIF", lambda: UpsampleNIF((2, 2)), r"UpsampleNIF: z_shape must be \(C_z, h, w\)")
row("UpsampleNIF", lambda: UpsampleNIF((2, 0, 2)), r"UpsampleNIF: z_shape must be \(C_z, h, w\) of ints >= 1")
row("UpsampleNIF", lambda: UpsampleNIF((2, 2, 2), x_channels=0), r"UpsampleNIF: x_channels must be an int >= 1")
row("UpsampleNIF", lambda: UpsampleNIF((9, 2, 2), factor=1, x_channels=1), r"C_z <= C_x k")
row("upsampling_matrix", lambda: upsampling_matrix(2, 2, 2))
row("upsampling_matrix", lambda: upsampling_matrix(0, 2, 2), r"upsampling_matrix: channels must be an int >= 1")
row("upsampling_matrix", lambda: upsampling_matrix(1, 2, 2, factor=0), r"upsampling_matrix: factor must be an int >= 1")

# ======================================================================= latentkit.nif: coupling and flows
row("StochasticCoupling", lambda: coupling()(torch.randn(3, 4)))
row(
    "StochasticCoupling",
    lambda: StochasticCoupling(4, 1, clamp=0.0),
    r"StochasticCoupling: clamp must be a finite number > 0",
)
row("StochasticCoupling", lambda: StochasticCoupling(4, 1, hidden=0), r"StochasticCoupling: hidden must be an int >= 1")
row("StochasticCoupling", lambda: StochasticCoupling(1, 1), r"StochasticCoupling: dim must be an int >= 2")
row("StochasticCoupling", lambda: StochasticCoupling(4, 3), r"dim_z2 <= 2")
row("StochasticCoupling.inverse", lambda: coupling().inverse(torch.zeros(3, 3), s=0.5))
row(
    "StochasticCoupling.inverse",
    lambda: coupling().inverse(torch.zeros(3, 3), s=NAN),
    r"StochasticCoupling.inverse: s must be >= 0",
)
row(
    "StochasticCoupling.log_stochastic_inverse",
    lambda: coupling().log_stochastic_inverse(torch.zeros(3, 3), torch.randn(3, 4)),
)
row(
    "StochasticCoupling.log_stochastic_inverse",
    lambda: coupling().log_stochastic_inverse(torch.zeros(3, 2), torch.randn(3, 4)),
    r"StochasticCoupling.log_stochastic_inverse: z must be of shape \(3, 3\)",
)
row("ActNorm", lambda: ActNorm(2)(torch.randn(3, 2)))
row("ActNorm", lambda: ActNorm(0), r"ActNorm: channels must be an int >= 1, got 0")
row("InvConv1x1", lambda: InvConv1x1(2)(torch.randn(3, 2)))
row("InvConv1x1", lambda: InvConv1x1(0), r"InvConv1x1: channels must be an int >= 1, got 0")
row("AffineCoupling", lambda: AffineCoupling(4, hidden=8, kind="mlp")(torch.randn(3, 4)))
row("AffineCoupling", lambda: AffineCoupling(4, clamp=0.0), r"AffineCoupling: clamp must be a finite number > 0")
row("AffineCoupling", lambda: AffineCoupling(1), r"AffineCoupling: channels must be an int >= 2, got 1")
row(
    "AffineCoupling",
    lambda: AffineCoupling(4, hidden=8, kind="mlp")(torch.randn(3, 5)),
    r"AffineCoupling.forward: x must be of shape \(N, 4\)",
)
row(
    "AffineCoupling",
    lambda: AffineCoupling(4, hidden=8)(torch.randn(3, 4)),
    r"AffineCoupling.forward: x must be of shape \(N, 4, H, W\)",
)
row(
    "AffineCoupling",
    lambda: AffineCoupling(4, hidden=8, kind="mlp").inverse(torch.randn(3, 2)),
    r"AffineCoupling.inverse: y must be of shape \(N, 4\)",
)
row("Squeeze", lambda: Squeeze()(torch.randn(2, 1, 4, 4)))
row("Squeeze", lambda: Squeeze()(torch.randn(2, 4, 4)), r"Squeeze.forward: x must be of shape \(N, C, H, W\)")
row(
    "Squeeze",
    lambda: Squeeze().inverse(torch.randn(2, 3, 2, 2)),
    r"Squeeze.inverse: y must be of shape \(N, 4 C, H, W\)",
)
row("glow_step", lambda: glow_step(4, 8)(torch.randn(2, 4, 2, 2)))
row("glow_step", lambda: glow_step(4, 0), r"AffineCoupling: hidden must be an int >= 1, got 0")
row("MultiscaleFlow", lambda: MultiscaleFlow((1, 4, 4), levels=1, steps=1, hidden=8)(torch.randn(2, 1, 4, 4)))
row("MultiscaleFlow", lambda: MultiscaleFlow((1, 4)), r"MultiscaleFlow: in_shape must be \(C, H, W\)")
row("MultiscaleFlow", lambda: MultiscaleFlow((1, 4, 4), levels=0), r"MultiscaleFlow: levels must be an int >= 1, got 0")
row(
    "MultiscaleFlow",
    lambda: MultiscaleFlow((1, 4, 4), steps=1.5),
    r"MultiscaleFlow: steps must be an int >= 1, got 1.5",
)

# ==================================================================================== latentkit.nif: models
row("quantize", lambda: quantize(torch.rand(2, 3), 3))
row("quantize", lambda: quantize(torch.rand(2, 3), 9), r"quantize: n_bits must be an int in \[1, 8\], got 9")
row("quantize", lambda: quantize(torch.rand(2, 3), 2.5), r"quantize: n_bits must be an int in \[1, 8\], got 2.5")
row("dequantize", lambda: dequantize(torch.rand(2, 3), 3))
row("dequantize", lambda: dequantize(torch.rand(2, 3), 0), r"dequantize: n_bits must be an int in \[1, 8\], got 0")
row("bin_centres", lambda: bin_centres(torch.rand(2, 3), 3))
row("bin_centres", lambda: bin_centres(torch.rand(2, 3), -1), r"bin_centres: n_bits must be an int in \[1, 8\]")
row("to_image", lambda: to_image(torch.rand(2, 3) - 0.5, 3))
row("to_image", lambda: to_image(torch.rand(2, 3), 0), r"to_image: n_bits must be an int in \[1, 8\], got 0")
row("UnitGaussianPrior", lambda: UnitGaussianPrior(3).log_prob(UnitGaussianPrior(3).sample(2, t=0.5)))
row("UnitGaussianPrior", lambda: UnitGaussianPrior(0), r"UnitGaussianPrior: dim must be an int >= 1, got 0")
row(
    "UnitGaussianPrior",
    lambda: UnitGaussianPrior(3).log_prob(torch.zeros(2, 4)),
    r"UnitGaussianPrior.log_prob: y must be of shape \(N, 3\)",
)
row("UnitGaussianPrior", lambda: UnitGaussianPrior(3).sample(2, t=-1.0), r"UnitGaussianPrior.sample: t must be >= 0")
row("NIFPrior", lambda: NIFPrior(4, 2).log_prob(torch.randn(2, 4)))
row("NIFPrior", lambda: NIFPrior(4, 5), r"dim_z must be in \[1, dim_x\]")
row("DeepNIFPrior", lambda: DeepNIFPrior(4, 2, couplings=1, hidden=8).log_prob(torch.randn(2, 4)))
row("DeepNIFPrior", lambda: DeepNIFPrior(4, 1), r"DeepNIFPrior: dim_z must be an int >= 2, got 1")
row("DeepNIFPrior", lambda: DeepNIFPrior(4, 2, couplings=-1), r"DeepNIFPrior: couplings must be an int >= 0")
row(
    "FlowModel",
    lambda: build_model("nf", (1, 4, 4), levels=1, steps=1, hidden=8, n_bits=3).bits_per_dim(torch.rand(2, 1, 4, 4)),
)
row(
    "FlowModel",
    lambda: FlowModel(MultiscaleFlow((1, 4, 4), 1, 1, 8), UnitGaussianPrior(16), n_bits=0),
    r"FlowModel: n_bits must be an int in \[1, 8\], got 0",
)
row("build_model", lambda: build_model("nif", (1, 4, 4), levels=1, steps=1, hidden=8, dim_z=2))
row("build_model", lambda: build_model("glow", (1, 4, 4)), r"unknown model kind 'glow'")
row(
    "build_model",
    lambda: build_model("nif", (1, 4, 4), levels=1, steps=1, hidden=8, dim_z=32),
    r"dim_z must be in \[1, dim_x\]",
)
row(
    "build_model", lambda: build_model("nf", (1, 4, 4), levels=1, steps=1, hidden=8, n_bits=9), r"n_bits must be an int"
)

# ====================================================================================== latentkit.metrics
row("bits_per_dim", lambda: metrics.bits_per_dim(torch.tensor(-1.0), 4, n_bits=3))
row(
    "bits_per_dim",
    lambda: metrics.bits_per_dim(torch.tensor(-1.0), 0),
    r"bits_per_dim: dims must be an int >= 1, got 0",
)
row(
    "bits_per_dim",
    lambda: metrics.bits_per_dim(torch.tensor(-1.0), 2.5),
    r"bits_per_dim: dims must be an int >= 1, got 2.5",
)
row(
    "bits_per_dim",
    lambda: metrics.bits_per_dim(torch.tensor(-1.0), 4, n_bits=0),
    r"bits_per_dim: n_bits must be an int >= 1",
)
row("silhouette", lambda: metrics.silhouette(codes(), labels().astype(float)))  # integer-valued floats: accepted
row(
    "silhouette",
    lambda: metrics.silhouette(codes(4), [0.2, 0.7, 1.2, 1.7]),
    r"silhouette: labels must be integer-valued class labels, got 0.2",
)
row("silhouette", lambda: metrics.silhouette(codes(), labels(19)), r"silhouette: labels must be of length 20")
row(
    "silhouette",
    lambda: metrics.silhouette(codes(), np.zeros(20)),
    r"silhouette: labels must be of 2 to N - 1 = 19 classes, got 1",
)
row(
    "silhouette",
    lambda: metrics.silhouette(np.where(labels()[:, None] > 0, NAN, codes()), labels()),
    r"silhouette: codes must be finite, got nan",
)
row("silhouette", lambda: metrics.silhouette(codes(), [["a"]] * 20), r"silhouette: labels must be a 1-D array")
row("knn_accuracy", lambda: metrics.knn_accuracy(codes(), labels(), codes(), labels(), k=3))
row(
    "knn_accuracy",
    lambda: metrics.knn_accuracy(codes(), labels() + 0.5, codes(), labels()),
    r"knn_accuracy: train_labels must be integer-valued class labels, got 0.5",
)
row(
    "knn_accuracy",
    lambda: metrics.knn_accuracy(codes(), labels(), codes(), labels(), k=0),
    r"knn_accuracy: k must be an int in \[1, 20\]",
)
row(
    "knn_accuracy",
    lambda: metrics.knn_accuracy(codes(), labels(), codes(), labels(), k=21),
    r"knn_accuracy: k must be an int in \[1, 20\]",
)
row(
    "knn_accuracy",
    lambda: metrics.knn_accuracy(codes(), labels(), codes(20, 4), labels()),
    r"knn_accuracy: test_codes must be of shape \(M, 3\)",
)
row(
    "knn_accuracy",
    lambda: metrics.knn_accuracy(codes(), labels(), codes(), np.full(20, NAN)),
    r"knn_accuracy: test_labels must be integer-valued class labels, got nan",
)
row("linear_probe_accuracy", lambda: metrics.linear_probe_accuracy(codes(), labels(), codes(), labels()))
row(
    "linear_probe_accuracy",
    lambda: metrics.linear_probe_accuracy(codes(), labels() * 0.5, codes(), labels()),
    r"linear_probe_accuracy: train_labels must be integer-valued class labels, got 0.5",
)
row(
    "linear_probe_accuracy",
    lambda: metrics.linear_probe_accuracy(codes(), labels(), codes(), labels(), c=0.0),
    r"linear_probe_accuracy: c must be a finite number > 0",
)
row(
    "linear_probe_accuracy",
    lambda: metrics.linear_probe_accuracy(codes(), np.zeros(20, int), codes(), labels()),
    r"linear_probe_accuracy: train_labels must be of at least 2 classes",
)
row("separability", lambda: metrics.separability(codes(), labels(), codes(), labels(), k=3))
row(
    "separability",
    lambda: metrics.separability(codes(), labels(), codes(), labels() + 0.2),
    r"separability: test_labels must be integer-valued class labels, got 0.2",
)
row("pca_codes", lambda: metrics.pca_codes(codes(), codes(5), 2))
row("pca_codes", lambda: metrics.pca_codes(codes(), codes(5), 0), r"pca_codes: dim must be an int in \[1, 3\], got 0")
row("pca_codes", lambda: metrics.pca_codes(codes(), codes(5), 4), r"pca_codes: dim must be an int in \[1, 3\], got 4")
row("pca_codes", lambda: metrics.pca_codes(codes(), codes(5, 4), 2), r"pca_codes: test must be of 3 features")
row("gaussian_statistics", lambda: metrics.gaussian_statistics(codes()))
row(
    "gaussian_statistics",
    lambda: metrics.gaussian_statistics(codes(1)),
    r"gaussian_statistics: features must be \(N >= 2, F\)",
)
row(
    "gaussian_statistics",
    lambda: metrics.gaussian_statistics(np.full((3, 2), np.inf)),
    r"gaussian_statistics: features must be finite, got inf",
)
row("frechet_distance_gaussians", lambda: fd(np.zeros(2), np.eye(2), np.ones(2), np.eye(2)))
row(
    "frechet_distance_gaussians",
    lambda: fd(np.zeros(2), -np.eye(2), np.zeros(2), -np.eye(2)),
    r"frechet_distance_gaussians: cov1 must be positive semi-definite, got an eigenvalue -1",
)
row(
    "frechet_distance_gaussians",
    lambda: fd(np.zeros(2), np.eye(2), np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]])),
    r"frechet_distance_gaussians: cov2 must be positive semi-definite",
)
row(
    "frechet_distance_gaussians",
    lambda: fd(np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), np.zeros(2), np.eye(2)),
    r"frechet_distance_gaussians: cov1 must be symmetric",
)
row(
    "frechet_distance_gaussians",
    lambda: fd(np.zeros(3), np.eye(2), np.zeros(3), np.eye(2)),
    r"frechet_distance_gaussians: cov1 must be of shape \(3, 3\)",
)
row(
    "frechet_distance_gaussians",
    lambda: fd(np.zeros(2), np.eye(2), np.zeros(3), np.eye(2)),
    r"frechet_distance_gaussians: mu2 must be of shape \(2,\)",
)
row(
    "frechet_distance_gaussians",
    lambda: fd(np.full(2, NAN), np.eye(2), np.zeros(2), np.eye(2)),
    r"frechet_distance_gaussians: mu1 must be finite, got nan",
)
row(
    "frechet_distance_gaussians",
    lambda: fd(np.zeros(2), np.full((2, 2), NAN), np.zeros(2), np.eye(2)),
    r"frechet_distance_gaussians: cov1 must be finite, got nan",
)
row("frechet_distance", lambda: metrics.frechet_distance(codes(), codes(10)))
row(
    "frechet_distance",
    lambda: metrics.frechet_distance(codes(), codes(10, 4)),
    r"frechet_distance: features_b must be of shape \(M, 3\)",
)
row("FeatureClassifier", lambda: metrics.FeatureClassifier((1, 8, 8), 2, 4, 2)(torch.rand(2, 1, 8, 8)))
row(
    "FeatureClassifier",
    lambda: metrics.FeatureClassifier((1, 8, 8), n_classes=1),
    r"FeatureClassifier: n_classes must be an int >= 2",
)
row("FeatureClassifier", lambda: metrics.FeatureClassifier((1, 8)), r"FeatureClassifier: in_shape must be \(C, H, W\)")
row(
    "FeatureClassifier",
    lambda: metrics.FeatureClassifier((1, 8, 8), feature_dim=0),
    r"FeatureClassifier: feature_dim must be",
)


def _train(labels, **kwargs):
    kw = dict(steps=1, batch_size=4, feature_dim=4, width=2) | kwargs
    return metrics.train_feature_classifier(torch.rand(8, 1, 8, 8), labels, **kw)


row("train_feature_classifier", lambda: _train(torch.arange(8) % 2))
row("train_feature_classifier", lambda: _train((torch.arange(8) % 2).double()))  # integer-valued floats: accepted
row(
    "train_feature_classifier",
    lambda: _train(torch.arange(8) * 0.2),
    r"train_feature_classifier: labels must be integer-valued class labels, got 0.2",
)
row(
    "train_feature_classifier",
    lambda: _train(torch.arange(7) % 2),
    r"train_feature_classifier: labels must be of length 8",
)
row(
    "train_feature_classifier",
    lambda: _train(torch.arange(8) - 1),
    r"train_feature_classifier: labels must be class indices >= 0",
)
row("train_feature_classifier", lambda: _train(torch.zeros(8, dtype=torch.long)), r"of at least 2 classes")
row(
    "train_feature_classifier",
    lambda: _train(torch.arange(8) % 2, steps=0),
    r"train_feature_classifier: steps must be an int >= 1",
)
row(
    "train_feature_classifier",
    lambda: _train(torch.arange(8) % 2, lr=-1.0),
    r"train_feature_classifier: lr must be a finite number > 0",
)
row("extract_features", lambda: metrics.extract_features(lambda x: x.flatten(1), torch.rand(5, 1, 2, 2), batch_size=2))
row(
    "extract_features",
    lambda: metrics.extract_features(lambda x: x, torch.rand(5, 2), batch_size=0),
    r"extract_features: batch_size must be an int >= 1, got 0",
)
row(
    "extract_features",
    lambda: metrics.extract_features(lambda x: x, torch.rand(0, 2)),
    r"extract_features: images must be a non-empty",
)
row(
    "classifier_frechet_distance",
    lambda: metrics.classifier_frechet_distance(
        metrics.FeatureClassifier((1, 8, 8), 2, 4, 2), torch.rand(4, 1, 8, 8), torch.rand(4, 1, 8, 8)
    ),
)
row(
    "classifier_frechet_distance",
    lambda: metrics.classifier_frechet_distance(
        metrics.FeatureClassifier((1, 8, 8), 2, 4, 2), torch.rand(4, 1, 8, 8), torch.rand(4, 1, 8, 8), batch_size=0
    ),
    r"classifier_frechet_distance: batch_size must be an int >= 1",
)
row("inception_frechet_distance", lambda: inception_or_missing(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8)))
row(
    "inception_frechet_distance",
    lambda: fid(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8), batch_size=0),
    r"inception_frechet_distance: batch_size must be an int >= 1",
)
row(
    "inception_frechet_distance",
    lambda: fid(torch.rand(1, 8, 8), torch.rand(2, 1, 8, 8)),
    r"inception_frechet_distance: real must be images \(N >= 2, C, H, W\)",
)
MEANS = np.array([[0.0, 0.0], [5.0, 0.0]])
row("mode_coverage", lambda: metrics.mode_coverage(np.zeros((3, 2)), MEANS, 0.5))
row("mode_coverage", lambda: metrics.mode_coverage(np.zeros((0, 2)), MEANS, 0.5))  # no samples: nothing covered
row(
    "mode_coverage",
    lambda: metrics.mode_coverage(np.zeros((3, 2)), MEANS, 0.0),
    r"mode_coverage: std must be a finite number > 0",
)
row(
    "mode_coverage",
    lambda: metrics.mode_coverage(np.zeros((3, 2)), MEANS, 0.5, n_std=-1.0),
    r"mode_coverage: n_std must be",
)
row(
    "mode_coverage",
    lambda: metrics.mode_coverage(np.zeros((3, 2)), MEANS, 0.5, min_count=0),
    r"mode_coverage: min_count must be",
)
row(
    "mode_coverage",
    lambda: metrics.mode_coverage(np.full((3, 2), NAN), MEANS, 0.5),
    r"mode_coverage: samples must be finite",
)
row(
    "mode_coverage",
    lambda: metrics.mode_coverage(np.zeros((3, 2)), np.zeros((0, 2)), 0.5),
    r"mode_coverage: means must be",
)
row("mode_coverage", lambda: metrics.mode_coverage(np.zeros((3, 3)), MEANS, 0.5), r"must share d")


@pytest.mark.parametrize("call, match", ROWS)
def test_public_functions_refuse_bad_input(call, match):
    if match is None:
        call()  # good input: passes every check
    else:
        with pytest.raises(ValueError, match=match):
            call()


def test_every_function_of_the_table_has_a_control_row():
    names = {p.id.rsplit("-", 1)[0] for p in ROWS}
    controls = {p.id.rsplit("-", 1)[0] for p in ROWS if p.values[1] is None}
    assert names == controls, f"functions without a good-input row: {sorted(names - controls)}"
