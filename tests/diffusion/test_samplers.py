"""Samplers checked against independent computations and fixed expected values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from n2ldiff.diffusion.noise import PositionalNoise, ReplayNoise
from n2ldiff.diffusion.process import CenterShiftedDiffusion
from n2ldiff.diffusion.samplers import (
    SAMPLERS,
    X0_DRAW,
    DDIMSampler,
    DDPMSampler,
    DPMSolverPlusPlusSampler,
    make_sampler,
    sample_loop,
    spaced_timesteps,
)
from n2ldiff.diffusion.schedule import Schedule
from n2ldiff.errors import N2LDiffError

SHAPE = (2, 3, 8, 12)


def make_diffusion(clip: bool = True) -> CenterShiftedDiffusion:
    return CenterShiftedDiffusion(Schedule.cosine(100), clip_denoised=clip)


def toy_noise_predictor(diffusion: CenterShiftedDiffusion, center: torch.Tensor):
    """A smooth, t-dependent stand-in network that predicts a shifted noise."""

    def predict(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        r = x - center
        eps = torch.tanh(0.7 * r + 0.05 * t.float().reshape(-1, 1, 1, 1) / 100)
        return diffusion.shifted_noise(eps, t, center)

    return predict


def as_x0(diffusion: CenterShiftedDiffusion, predict_noise):
    """The samplers consume x0 predictions: convert a shifted-noise network once, as the pipeline does."""
    return lambda x, t: diffusion.x0_from_output(predict_noise(x, t), x, t, None)


def toy_denoiser(diffusion: CenterShiftedDiffusion, center: torch.Tensor):
    return as_x0(diffusion, toy_noise_predictor(diffusion, center))


@pytest.fixture()
def center() -> torch.Tensor:
    return torch.linspace(-0.9, 0.2, math.prod(SHAPE)).reshape(SHAPE)


def noise_draws(n: int, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(SHAPE, generator=gen) for _ in range(n)]


def test_spaced_timesteps():
    assert spaced_timesteps(100, 100) == list(range(99, -1, -1))
    steps = spaced_timesteps(100, 10)
    assert steps[0] == 99 and steps[-1] == 0 and len(set(steps)) == 10
    assert steps == sorted(steps, reverse=True)
    assert spaced_timesteps(100, 0) == []  # no denoiser pass (see the steps=0 test below)
    with pytest.raises(N2LDiffError):
        spaced_timesteps(100, -1)
    with pytest.raises(N2LDiffError):
        spaced_timesteps(100, 101)


def test_ddim_eta1_all_steps_equals_ancestral(center):
    """With eta = 1 over all T steps, DDIM's update is the ancestral posterior step (same noise)."""
    diffusion = make_diffusion()
    draws = noise_draws(101)
    denoise = toy_denoiser(diffusion, center)
    ancestral = sample_loop(denoise, DDPMSampler(diffusion), center, ReplayNoise(draws))
    ddim = sample_loop(denoise, DDIMSampler(diffusion, 100, eta=1.0), center, ReplayNoise(draws))
    torch.testing.assert_close(ddim, ancestral, atol=2e-5, rtol=0)


def test_ddim_matches_diffusers_on_the_residual_process(center):
    """Our DDIM on x equals diffusers' DDIMScheduler run on r = x - c, shifted back by c."""
    diffusers = pytest.importorskip("diffusers")
    diffusion = make_diffusion(clip=False)
    predict_noise = toy_noise_predictor(diffusion, center)
    x_start = center + noise_draws(1)[0]
    ours = sample_loop(
        as_x0(diffusion, predict_noise), DDIMSampler(diffusion, 100), center, ReplayNoise([x_start - center])
    )

    scheduler = diffusers.DDIMScheduler(
        num_train_timesteps=100,
        trained_betas=diffusion.schedule.betas.double().numpy(),
        clip_sample=False,
        set_alpha_to_one=True,
        steps_offset=0,
    )
    # Use our float32 alphas so both sides round the same way.
    scheduler.alphas_cumprod = diffusion.schedule.alphas_cumprod.clone()
    scheduler.set_timesteps(100)
    r = x_start - center
    for t in scheduler.timesteps:
        t_batch = torch.full((SHAPE[0],), int(t), dtype=torch.long)
        eps = predict_noise(r + center, t_batch) - diffusion.shifted_noise(torch.zeros_like(r), t_batch, center)
        out = scheduler.step(eps, int(t), r, eta=0.0)
        r, r0 = out.prev_sample, out.pred_original_sample
    torch.testing.assert_close(ours, r0 + center, atol=1e-4, rtol=1e-4)


def gaussian_data_setup(mu: float = 0.3, s: float = 0.5):
    """Residual data r0 ~ N(mu, s^2): the exact noise predictor and probability-flow ODE are analytic."""
    diffusion = make_diffusion(clip=False)
    ab = diffusion.schedule.alphas_cumprod.double()
    center = torch.full(SHAPE, -0.4, dtype=torch.float64)

    def denoise(x, t):
        a = ab[t].reshape(-1, 1, 1, 1)
        r = x.double() - center
        eps = (1 - a).sqrt() * (r - a.sqrt() * mu) / (a * s**2 + 1 - a)
        return (x.double() - (1 - a).sqrt() * eps) / a.sqrt() - (1 - a.sqrt()) / a.sqrt() * center  # x0

    def exact(x_start):
        # Along the PF-ODE, (r_t - sqrt(ab) mu) / sqrt(ab s^2 + 1 - ab) is constant; then take E[r0 | r_t=0].
        a_T, a_0 = ab[99], ab[0]
        z = (x_start.double() - center - a_T.sqrt() * mu) / (a_T * s**2 + 1 - a_T).sqrt()
        r_t0 = a_0.sqrt() * mu + z * (a_0 * s**2 + 1 - a_0).sqrt()
        r0 = mu + a_0.sqrt() * s**2 * (r_t0 - a_0.sqrt() * mu) / (a_0 * s**2 + 1 - a_0)
        return r0 + center

    return diffusion, center, denoise, exact


@pytest.mark.parametrize("steps", [20, 40])
def test_deterministic_samplers_solve_the_probability_flow_ode(steps):
    diffusion, center, denoise, exact = gaussian_data_setup()
    x_start = center + noise_draws(1, seed=3)[0].double()
    reference = exact(x_start)

    def error(sampler):
        out = sample_loop(lambda x, t: denoise(x, t).to(x.dtype), sampler, center, ReplayNoise([x_start - center]))
        return float((out - reference).abs().max())

    err_ddim = error(DDIMSampler(diffusion, steps))
    err_dpm = error(DPMSolverPlusPlusSampler(diffusion, steps))
    # The cosine schedule ends at alpha-bar ~ 2e-7, so the first jump is huge: errors are modest at 20 steps.
    assert err_dpm < 0.08
    assert err_dpm < err_ddim  # second order beats first order at the same number of evaluations


def test_dpm_solver_converges_with_order_about_two():
    diffusion, center, denoise, exact = gaussian_data_setup()
    x_start = center + noise_draws(1, seed=4)[0].double()
    reference = exact(x_start)
    errors = []
    for steps in (20, 80):
        out = sample_loop(denoise, DPMSolverPlusPlusSampler(diffusion, steps), center, ReplayNoise([x_start - center]))
        errors.append(float((out - reference).abs().max()))
    assert errors[1] < errors[0] / 6  # 4x the steps: about 16x smaller error for a 2nd-order method


def test_center_start_is_deterministic_and_center_plus_noise_varies(center):
    diffusion = make_diffusion()
    denoise = toy_denoiser(diffusion, center)
    a = sample_loop(denoise, DDIMSampler(diffusion, 5), center, PositionalNoise([1, 1]), start="center")
    b = sample_loop(denoise, DDIMSampler(diffusion, 5), center, PositionalNoise([2, 2]), start="center")
    assert torch.equal(a, b)  # the original's start: a deterministic sampler ignores the seed
    c = sample_loop(denoise, DDIMSampler(diffusion, 5), center, PositionalNoise([1, 1]))
    d = sample_loop(denoise, DDIMSampler(diffusion, 5), center, PositionalNoise([2, 2]))
    assert (c - d).abs().mean() > 0.05


# Fixed expected values (as diffusers' scheduler tests do): the mean and mean |x| of the final sample of
# each sampler for the toy network, a linear center and noise seed 0. Recompute only for intended changes.
EXPECTED = {
    ("ddpm", 100): (-0.2531396150588989, 0.5613167881965637),
    ("ddim", 10): (-0.1214505061507225, 0.8139007091522217),
    ("ddim", 100): (-0.13028877973556519, 0.8049003481864929),
    ("dpm-solver++", 10): (-0.12115950137376785, 0.8091224431991577),
    ("dpm-solver++", 25): (-0.12865057587623596, 0.8046529293060303),
}


@pytest.mark.parametrize(("name", "steps"), list(EXPECTED))
def test_fixed_expected_values(name, steps, center):
    diffusion = make_diffusion()
    sampler = make_sampler(name, diffusion, steps)
    out = sample_loop(toy_denoiser(diffusion, center), sampler, center, ReplayNoise(noise_draws(101)))
    values = (float(out.mean()), float(out.abs().mean()))
    np.testing.assert_allclose(values, EXPECTED[(name, steps)], rtol=1e-5, atol=1e-6)


def test_make_sampler_rejects_bad_settings():
    diffusion = make_diffusion()
    with pytest.raises(N2LDiffError, match="unknown sampler"):
        make_sampler("euler", diffusion, 10)
    with pytest.raises(N2LDiffError, match="ancestral"):
        make_sampler("ddpm", diffusion, 10)
    with pytest.raises(N2LDiffError, match="eta"):
        make_sampler("ddim", diffusion, 10, eta=-1)


def test_make_sampler_dispatches_through_the_registry(monkeypatch):
    """A sampler registered in SAMPLERS is buildable by name, with the shared options passed on."""

    class HalfwaySampler(DDIMSampler):
        name = "halfway"

        def step(self, index, x0, x_t, center, noise):
            return 0.5 * (x0 + x_t)

    monkeypatch.setitem(SAMPLERS, "halfway", HalfwaySampler)
    diffusion = make_diffusion()
    sampler = make_sampler("halfway", diffusion, 5, 0.5, start_timestep=40, spacing="geometric")
    assert isinstance(sampler, HalfwaySampler) and sampler.eta == 0.5 and len(sampler.timesteps) == 5
    assert sampler.timesteps[0] == 40
    assert sampler.timesteps == make_sampler("ddim", diffusion, 5, 0.5, 40, "geometric").timesteps


@pytest.mark.parametrize("prediction_type", ["epsilon", "residual", "preconditioned"])
def test_a_perfect_network_output_gives_back_x0(center, prediction_type):
    """Each output parameterisation maps a perfect network's output to the true clean image."""
    diffusion = CenterShiftedDiffusion(Schedule.cosine(100), clip_denoised=False, prediction_type=prediction_type)
    gen = torch.Generator().manual_seed(5)
    residual = 0.3 * torch.randn(SHAPE, generator=gen)
    noise = torch.randn(SHAPE, generator=gen)
    sigma = 0.01 + 0.1 * torch.rand(SHAPE, generator=gen)  # a per-pixel noise level map
    for step in (0, 10, 50, 99):
        t = torch.full((SHAPE[0],), step, dtype=torch.long)
        x0 = center + residual
        x_t = diffusion.q_sample(x0, t, center, noise)
        if prediction_type == "epsilon":
            output = diffusion.shifted_noise(noise, t, center)
        else:
            output = diffusion.output_target(x0, x_t, t, center, sigma)
        tol = 3e-3 if step == 99 and prediction_type == "epsilon" else 2e-5  # 1/sqrt(ab_99) ~ 2000x rounding
        torch.testing.assert_close(diffusion.x0_from_output(output, x_t, t, center, sigma), x0, atol=tol, rtol=0)


def test_spaced_timesteps_from_a_start_and_geometric():
    schedule = Schedule.cosine(1000)
    linear = spaced_timesteps(1000, 4, start=150)
    assert linear == [150, 100, 50, 0]
    geometric = spaced_timesteps(1000, 4, 150, "geometric", schedule.alphas_cumprod)
    assert geometric[0] == 150 and geometric[-1] == 0 and geometric == sorted(set(geometric), reverse=True)
    sigmas = (1 - schedule.alphas_cumprod.double()).sqrt()[geometric]
    ratios = (sigmas[:-1] / sigmas[1:]).numpy()
    np.testing.assert_allclose(ratios, ratios.mean(), rtol=0.15)  # equal steps in log sigma
    assert len(set(spaced_timesteps(1000, 20, 30, "geometric", schedule.alphas_cumprod))) == 20
    with pytest.raises(N2LDiffError):
        spaced_timesteps(1000, 4, start=1000)
    with pytest.raises(N2LDiffError):
        spaced_timesteps(1000, 5, start=3)


@pytest.mark.parametrize(("sampler", "steps"), [("ddim", 4), ("ddim", 1), ("ddim", 8)])
def test_gaussian_prior_samples_have_the_predicted_noise_level(sampler, steps):
    """With F = 0 the preconditioned denoiser is the exact posterior mean for r0 ~ N(0, s^2), so a shortened
    chain plus the final posterior sample must give pixels with mean = center and std = s, for any s map."""
    diffusion = CenterShiftedDiffusion(Schedule.cosine(1000), clip_denoised=False, prediction_type="preconditioned")
    shape = (2, 3, 96, 96)
    center = torch.linspace(-0.8, 0.0, math.prod(shape)).reshape(shape)
    sigma = torch.where(torch.arange(96)[None, None, :, None] < 48, 0.004, 0.03).expand(shape).contiguous()
    chosen = make_sampler(sampler, diffusion, steps, 1.0, start_timestep=150, spacing="geometric")

    def denoise(x, t):
        return diffusion.x0_from_output(torch.zeros_like(x), x, t, center, sigma)

    out = sample_loop(denoise, chosen, center, PositionalNoise([7, 8]), noise_std=sigma)
    residual = out - center
    for rows, s in ((slice(0, 48), 0.004), (slice(48, 96), 0.03)):
        part = residual[:, :, rows]
        assert abs(float(part.mean())) < 0.05 * s
        assert abs(float(part.std()) / s - 1) < 0.05
    # Pixel noise, not blobs: 8x8 block means of the residual shrink like i.i.d. noise (1/8).
    blocks = torch.nn.functional.avg_pool2d(residual[:, :, 48:], 8)
    assert float(blocks.std() / residual[:, :, 48:].std()) < 0.2


def test_preconditioning_is_identity_at_t0_and_center_at_T():
    diffusion = CenterShiftedDiffusion(Schedule.cosine(100), prediction_type="preconditioned", sigma_data=0.25)
    like = torch.zeros(1)
    c_skip0, c_out0 = diffusion.preconditioning(torch.tensor([0]), like)
    c_skip99, c_out99 = diffusion.preconditioning(torch.tensor([99]), like)
    assert float(c_skip0) > 0.98 and float(c_out0) < 0.03  # r0 ~ r_t: the noisy image is already clean
    assert float(c_skip99) < 1e-3 and abs(float(c_out99) - 0.25) < 1e-3  # r0 ~ 0.25 F: start from the center


def test_zero_steps_draw_x0_from_the_prior_without_calling_the_denoiser():
    """steps=0: no network evaluation; x0 = center + s z with the x0 draw of the noise source, clamped."""
    diffusion = CenterShiftedDiffusion(Schedule.cosine(1000), prediction_type="preconditioned")
    assert spaced_timesteps(1000, 0, 150, "geometric", diffusion.schedule.alphas_cumprod) == []
    chosen = make_sampler("ddim", diffusion, 0, 1.0, start_timestep=150, spacing="geometric")
    center = torch.linspace(-1.0, 0.5, math.prod(SHAPE)).reshape(SHAPE)
    sigma = torch.full(SHAPE, 0.05)
    noise = PositionalNoise([3, 4])

    def denoise(x, t):
        raise AssertionError("the denoiser must not run at steps=0")

    out = sample_loop(denoise, chosen, center, noise, noise_std=sigma)
    expected = (center + sigma * noise(X0_DRAW, center)).clamp(-1, 1)
    torch.testing.assert_close(out, expected, atol=0, rtol=0)
    assert float(out.min()) == -1.0  # clamped where the center sits at the bottom of the range
    with pytest.raises(N2LDiffError, match="noise-level head"):
        sample_loop(denoise, chosen, center, noise)
