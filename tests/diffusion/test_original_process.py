"""The diffusion maths reproduces the original code's tensors (schedule, q_sample, p_sample, sampler).

Schedule, q_sample and the p_sample step also run from the subset vendored in tests/fixtures; the tests
with the network need ../shared.
"""

from __future__ import annotations

import torch

from n2ldiff.diffusion.noise import ReplayNoise
from n2ldiff.diffusion.process import CenterShiftedDiffusion, from_model_range, to_model_range
from n2ldiff.diffusion.samplers import DDPMSampler, sample_loop
from n2ldiff.diffusion.schedule import Schedule


def test_schedule_buffers_are_bit_exact(original_io):
    schedule = Schedule.cosine(100)
    for name, value in schedule.as_dict().items():
        assert torch.equal(value, original_io[f"schedule.{name}"]), name


def test_schedule_buffers_match_the_original_checkpoint(original_tiny_state):
    for name, value in Schedule.cosine(100).as_dict().items():
        assert torch.equal(value, original_tiny_state[f"model.{name}"]), name


def test_q_sample_and_shifted_noise(original_io):
    diffusion = CenterShiftedDiffusion(Schedule.cosine(100))
    x0 = to_model_range(original_io["target_low"])
    center = to_model_range(original_io["enc_center"])
    noise = original_io["noise"].clone()
    x_t = diffusion.q_sample(x0, original_io["t"], center, noise)
    assert torch.equal(noise, original_io["noise"])  # unlike the original, the caller's noise is untouched
    torch.testing.assert_close(x_t, original_io["x_t"], atol=1e-6, rtol=0)
    shifted = diffusion.shifted_noise(noise, original_io["t"], center)
    torch.testing.assert_close(shifted, original_io["noise_shifted"], atol=1e-6, rtol=0)


def test_p_sample_step_given_stored_network_output(original_io):
    diffusion = CenterShiftedDiffusion(Schedule.cosine(100))
    center = to_model_range(original_io["enc_center"])
    x_t = original_io["psample_x_t"]
    t = torch.full((x_t.shape[0],), 37, dtype=torch.long)  # batch of 2 (../shared) or 1 (vendored subset)
    x0 = diffusion.predict_x0(x_t, t, original_io["psample_eps_pred"])
    mean, log_var = diffusion.posterior(x0, x_t, t, center)
    torch.testing.assert_close(x0, original_io["psample_x0_pred"], atol=1e-6, rtol=0)
    torch.testing.assert_close(mean, original_io["psample_model_mean"], atol=1e-6, rtol=0)
    torch.testing.assert_close(
        log_var.flatten(), original_io["psample_model_log_variance"].flatten(), atol=1e-6, rtol=0
    )
    x_prev, _ = diffusion.p_sample(original_io["psample_eps_pred"], x_t, t, center, original_io["psample_noise"])
    torch.testing.assert_close(x_prev, original_io["psample_x_prev"], atol=1e-6, rtol=0)


def test_p_sample_with_our_network(tiny_model, original_io):
    normal = original_io["input_normal"]
    t = torch.full((2,), 37, dtype=torch.long)
    with torch.no_grad():
        encoding = tiny_model.encode(normal)
        eps = tiny_model.denoise(original_io["psample_x_t"], t, normal, encoding)
    torch.testing.assert_close(eps, original_io["psample_eps_pred"], atol=1e-5, rtol=0)


def original_sampler_noise(original_io) -> list[torch.Tensor]:
    """Replay the original's RNG: 100 successive randn draws after manual_seed(2024)."""
    gen = torch.Generator().manual_seed(2024)
    draws = [torch.randn(2, 3, 64, 96, generator=gen) for _ in range(100)]
    assert torch.equal(draws[0], original_io["sample_noise_first_t99"])
    return draws


def test_full_original_sampler(tiny_model, original_io):
    """start="center" + ancestral DDPM over T=100 reproduces the original sample and trajectory."""
    diffusion = CenterShiftedDiffusion(Schedule.cosine(100))
    normal = original_io["input_normal"]
    states: dict[int, torch.Tensor] = {}
    sampler = DDPMSampler(diffusion)
    with torch.no_grad():
        encoding = tiny_model.encode(normal)
        out = sample_loop(
            lambda x, t: diffusion.predict_x0(x, t, tiny_model.denoise(x, t, normal, encoding)),
            sampler,
            to_model_range(encoding.center),
            ReplayNoise(original_sampler_noise(original_io), first_draw=1),
            start="center",
            callback=lambda i, x: states.__setitem__(sampler.timesteps[i], x.clone()),
        )
    for t in (99, 50, 1):
        torch.testing.assert_close(states[t], original_io[f"sample_x_after_t{t:02d}"], atol=1e-4, rtol=0)
    torch.testing.assert_close(from_model_range(out), original_io["sample_out"], atol=1e-4, rtol=0)
