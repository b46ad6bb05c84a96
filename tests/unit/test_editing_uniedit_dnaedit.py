"""UniEdit-Flow (arXiv 2504.13109) and DNAEdit (arXiv 2506.01430) against their official loops, transcribed
independently here in the official code's own form (diffusers flow-match sigma, equal to ComfyUI's), on an analytic
class-conditional flow with exact velocities. The points are laid out as one latent [B, C=2, n, 1] so that UniEdit's
channel-mean mask varies over the n 'pixels' as it does over an SD3 latent."""
import math

import pytest
import torch

from rectiflow.models.analytic_flows import four_mode_mixture
from rectiflow.samplers.editing import dnaedit, uni_inversion, uniedit
from rectiflow.samplers.solvers import sample_flow_euler

FLOW = four_mode_mixture(std=0.3)
SOURCE_MODE, TARGET_MODE = 0, 2
SOURCE_PAIR, TARGET_PAIR = (0, 1), (2, 3)
SIGMAS = torch.linspace(1, 0, 16, dtype=torch.float64)   # 15 steps, the UniEdit default
pytestmark = pytest.mark.usefixtures("one_thread")


def as_points(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1).reshape(-1, 2)


def as_latent(points: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    b, _, h, w = like.shape
    return points.reshape(b, h, w, 2).permute(0, 3, 1, 2)


def conditioned(modes: int | tuple[int, ...] | None):
    """Exact velocity of the mixture conditioned on some modes (a 'label'; all when None) on [B, 2, n, 1] latents.
    One mode is a single Gaussian: then v_tar - v_src is the same at every point and UniEdit's mask is 0 / 1e-7
    noise, so the exactness tests condition on two modes per branch."""
    def v(x: torch.Tensor, sigma: float) -> torch.Tensor:
        points = as_points(x)
        logits = None
        if modes is not None:
            logits = torch.full((points.shape[0], 4), -30.0, dtype=torch.float64)
            logits[:, list(modes) if isinstance(modes, tuple) else modes] = 0.0
        return as_latent(FLOW.velocity(points, sigma, logits), x)
    return v


def source_latent(batch: int = 2, n: int = 12, modes: tuple[int, ...] = (SOURCE_MODE,)) -> torch.Tensor:
    """Points of the given modes (alternating) as [batch, 2, n, 1]."""
    gen = torch.Generator().manual_seed(3)
    centres = FLOW.means[torch.tensor(modes).repeat(batch * n)[:batch * n]]
    points = centres + 0.3 * torch.randn(batch * n, 2, dtype=torch.float64, generator=gen)
    return as_latent(points, torch.empty(batch, 2, n, 1))


def gaussian(like: torch.Tensor, seed: int) -> torch.Tensor:
    return torch.randn(like.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def share_in_mode(x: torch.Tensor, mode: int) -> float:
    return (torch.cdist(as_points(x), FLOW.means).argmin(1) == mode).double().mean().item()


# ---------------------------------------------------------------- UniEdit-Flow: the diffusers schedulers, transcribed

class OfficialUniInv:
    """UniInvEulerScheduler (zero_initial False): sigmas flipped with 0 first, the last ones dropped for alpha < 1;
    step() keeps the corrected sample and returns the next predictor."""

    def __init__(self, sigmas: list[float], alpha: float):
        n = len(sigmas) - 1
        self.sigmas = sigmas[::-1]
        if alpha < 1:
            skip = n - math.floor(alpha * n)
            self.sigmas = self.sigmas[:-skip]
        self.timesteps, self.sample, self.step_index = list(self.sigmas), None, 0

    def step(self, model_output, sample):
        if self.sample is None:
            dt = self.sigmas[1] - self.sigmas[0]
            self.sample = sample
            prev = sample + model_output * dt
        else:
            dt = self.sigmas[self.step_index] - self.sigmas[self.step_index - 1]
            self.sample = self.sample + dt * model_output
            if self.step_index + 1 < len(self.sigmas):
                prev = self.sample + (self.sigmas[self.step_index + 1] - self.sigmas[self.step_index]) * model_output
            else:
                prev = self.sample
        self.step_index += 1
        return prev


class OfficialUniEdit:
    """UniEditEulerScheduler: the first N - floor(alpha N) sigmas dropped; step() on the [src, trg] batch output."""

    def __init__(self, sigmas: list[float], alpha: float, omega: float):
        n = len(sigmas) - 1
        self.sigmas, self.omega = sigmas, omega
        if alpha < 1:
            self.sigmas = sigmas[n - math.floor(alpha * n):]
        self.timesteps, self.step_index = self.sigmas[:-1], 0

    def step(self, v_src, v_trg, sample):
        sigma, sigma_next = self.sigmas[self.step_index], self.sigmas[self.step_index + 1]
        guidance = v_trg - v_src
        b = guidance.shape[0]
        mask = guidance.mean(dim=1, keepdim=True)
        low = mask.reshape(b, -1).min(dim=1).values.reshape(b, 1, 1, 1)
        high = mask.reshape(b, -1).max(dim=1).values.reshape(b, 1, 1, 1)
        mask = (mask - low) / (high - low + 1e-7)
        stride_corr = self.omega * (sigma_next - sigma) * (1 + mask) * guidance
        fusion = mask * v_trg + (1 - mask) * v_src
        self.step_index += 1
        return sample + stride_corr + (sigma_next - sigma) * fusion


def official_uniedit(v_inv, v_src, v_tar, x_src, sigmas, alpha, omega):
    """demo_edit.py: the pipeline's loop over the inversion scheduler, then over the edit scheduler."""
    inv = OfficialUniInv(sigmas, alpha)
    latents = x_src.clone()
    for t in inv.timesteps:
        latents = inv.step(v_inv(latents, t), latents)
    edit = OfficialUniEdit(sigmas, alpha, omega)
    for t in edit.timesteps:
        latents = edit.step(v_src(latents, t), v_tar(latents, t), latents)
    return latents


@pytest.mark.parametrize("alpha, omega", [(0.6, 5.0), (1.0, 5.0), (0.4, 2.0), (0.8, 0.0)])
def test_uniedit_matches_the_official_schedulers(alpha, omega):
    x_src, values = source_latent(modes=SOURCE_PAIR), SIGMAS.tolist()
    v_inv, v_src, v_tar = conditioned(None), conditioned(SOURCE_PAIR), conditioned(TARGET_PAIR)
    ours = uniedit(v_src, v_tar, x_src, SIGMAS, omega, alpha, v_inv=v_inv)
    reference = official_uniedit(v_inv, v_src, v_tar, x_src, values, alpha, omega)
    assert torch.allclose(ours, reference, atol=1e-12, rtol=0)


def test_uniedit_on_a_shifted_schedule_matches_the_official_schedulers():
    shifted = 3.0 * SIGMAS / (1 + 2.0 * SIGMAS)   # SD3's shift 3
    x_src = source_latent(modes=SOURCE_PAIR)
    ours = uniedit(conditioned(SOURCE_PAIR), conditioned(TARGET_PAIR), x_src, shifted)
    reference = official_uniedit(conditioned(SOURCE_PAIR), conditioned(SOURCE_PAIR), conditioned(TARGET_PAIR), x_src,
                                 shifted.tolist(), 0.6, 5.0)
    assert torch.allclose(ours, reference, atol=1e-12, rtol=0)


def test_uniedit_with_equal_branches_is_uni_inv_then_euler_sampling():
    """g = 0 makes the mask 0 and the fused velocity v_src: the edit is plain Euler from Uni-Inv's latent."""
    x_src, v = source_latent(), conditioned(SOURCE_MODE)
    out = uniedit(v, v, x_src, SIGMAS, omega=5.0, alpha=0.6)
    start = 15 - 9
    inverted = uni_inversion(v, x_src, SIGMAS.flip(0)[:10].tolist())
    points = sample_flow_euler(lambda x, s, **_: x - s.reshape(-1, 1) * as_points(v(as_latent(x, x_src), float(s[0]))),
                               as_points(inverted), SIGMAS[start:])
    assert torch.allclose(out, as_latent(points, x_src), atol=1e-12, rtol=0)


def test_uni_inv_reconstructs_far_better_than_euler_inversion():
    """The paper's claim (local error O(dt^3)): invert fully, sample back with Euler, compare with x_src."""
    x_src, v = source_latent(), conditioned(SOURCE_MODE)
    steps = SIGMAS.flip(0).tolist()
    uni = uni_inversion(v, x_src, steps)
    euler = x_src
    for s, s_next in zip(steps, steps[1:]):
        euler = euler + (s_next - s) * v(euler, s)

    def back(z):
        for s, s_next in zip(SIGMAS.tolist(), SIGMAS.tolist()[1:]):
            z = z + (s_next - s) * v(z, s)
        return z
    uni_error, euler_error = (back(uni) - x_src).abs().max(), (back(euler) - x_src).abs().max()
    assert uni_error < 0.2 * euler_error


def test_uniedit_moves_the_source_toward_the_target_mode():
    x_src = source_latent()
    out = uniedit(conditioned(SOURCE_MODE), conditioned(TARGET_MODE), x_src, SIGMAS)
    assert share_in_mode(x_src, SOURCE_MODE) >= 0.9
    assert share_in_mode(out, TARGET_MODE) >= 0.9


def test_the_abs_mask_pooled_over_patches_is_the_flux_code_token_mask():
    """mask='abs', mask_patch=2 on [B, C, H, W] equals the FLUX code's |g| mean over packed 2x2 tokens."""
    from rectiflow.samplers.editing.uniedit import velocity_mask

    g = torch.randn(1, 3, 4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    tokens = g.reshape(1, 3, 2, 2, 3, 2).permute(0, 2, 4, 1, 3, 5).reshape(1, 6, 12)   # b (h w) (c ph pw)
    official = tokens.abs().mean(dim=2, keepdim=True)
    official = (official - official.min()) / (official.max() - official.min())
    ours = velocity_mask(g, "abs", 2)
    per_token = ours[0, 0].reshape(2, 2, 3, 2).permute(0, 2, 1, 3).reshape(6, 4)
    assert torch.allclose(per_token, official[0].expand(6, 4), atol=1e-6)


@pytest.mark.parametrize("options, name", [({"alpha": 0.0}, "alpha"), ({"alpha": 0.05}, "alpha"),
                                           ({"omega": -1.0}, "omega"), ({"mask": "max"}, "mask"),
                                           ({"mask_patch": 0}, "mask_patch")])
def test_uniedit_rejects_bad_options_by_name(options, name):
    x_src = source_latent()
    with pytest.raises(ValueError, match=f"^{name}:"):
        uniedit(conditioned(0), conditioned(1), x_src, SIGMAS, **options)


# ---------------------------------------------------------------------------- DNAEdit: DNAEdit_SD3, transcribed

def official_dnaedit(v_src, v_tar, x_src, sigmas, noise, T_start, mvg):
    """DNAEdit_SD3's two loops (HEAD of xiechenxi99/DNAEdit_code) with t = timestep / 1000, CFG folded into v."""
    timesteps = list(sigmas)
    inver_timesteps = timesteps[::-1]
    jmp = T_start
    last, random_noise = x_src.clone(), noise.clone()
    last_lst, v_lst, dx_lst = [], [], []
    for i, (t_curr, t_prev) in enumerate(zip(inver_timesteps[:-1], inver_timesteps[1:])):
        if len(inver_timesteps) - 1 - i == jmp:
            break
        x_curr = last
        x_prev = (t_prev - t_curr) / (1 - t_curr) * (random_noise - last) + last
        noise_pred_src = v_src(x_prev, t_prev)
        delta_v = (x_prev - x_curr) / (t_prev - t_curr) - noise_pred_src
        last = x_prev - delta_v * (t_prev - t_curr)
        dx = delta_v * (t_prev - t_curr)
        random_noise = random_noise - delta_v * (1 - t_curr)
        last_lst.append(last)
        dx_lst.append(dx)
        v_lst.append(noise_pred_src)
    last_lst, v_lst, dx_lst = last_lst[::-1], v_lst[::-1], dx_lst[::-1]
    random_noise, x_ref = last_lst[0], x_src.clone()
    for i, (t_curr, t_prev) in enumerate(zip(timesteps[:-1], timesteps[1:])):
        if i < jmp:
            continue
        noise_pred_tgt = v_tar(random_noise + dx_lst[i - jmp], t_curr)
        x_ref = x_ref + (t_prev - t_curr) * (noise_pred_tgt - v_lst[i - jmp])
        v = noise_pred_tgt * mvg + (random_noise - x_ref) / t_curr * (1 - mvg)
        random_noise = random_noise + v * (t_prev - t_curr)
    return random_noise


DNA_SIGMAS = 3.0 * torch.linspace(1, 0, 41, dtype=torch.float64) / (1 + 2.0 * torch.linspace(1, 0, 41,
                                                                                               dtype=torch.float64))


@pytest.mark.parametrize("start, mvg", [(13, 0.8), (0, 0.85), (39, 0.5), (20, 1.0), (5, 0.0)])
def test_dnaedit_matches_the_official_loops(start, mvg):
    x_src = source_latent(modes=SOURCE_PAIR)
    noise = gaussian(x_src, 4)
    v_src, v_tar = conditioned(SOURCE_PAIR), conditioned(TARGET_PAIR)
    ours = dnaedit(v_src, v_tar, x_src, DNA_SIGMAS, noise, start, mvg)
    reference = official_dnaedit(v_src, v_tar, x_src, DNA_SIGMAS.tolist(), noise, start, mvg)
    assert torch.allclose(ours, reference, atol=1e-12, rtol=0)


@pytest.mark.parametrize("start", [0, 13])
def test_dnaedit_with_equal_branches_and_mvg_1_retraces_the_inversion(start):
    x_src, v = source_latent(), conditioned(SOURCE_MODE)
    out = dnaedit(v, v, x_src, DNA_SIGMAS, gaussian(x_src, 1), start, mvg=1.0)
    assert (out - x_src).abs().max().item() < 1e-12


def test_noise_alignment_from_the_exact_noise_of_a_point_mass_changes_nothing():
    """For data at a single point x0 the velocity is (x - x0) / s, and the straight line to the true noise is the
    trajectory: the velocity error is 0, so the noise estimate and every offset stay put."""
    from rectiflow.samplers.editing import noise_alignment

    x0 = source_latent()
    eps = gaussian(x0, 5)
    z, velocities, offsets = noise_alignment(lambda x, s: (x - x0) / s, x0, eps, DNA_SIGMAS.flip(0)[:30].tolist())
    sigma = DNA_SIGMAS.flip(0)[29].item()
    assert torch.allclose(z, (1 - sigma) * x0 + sigma * eps, atol=1e-12)
    assert all(off.abs().max().item() < 1e-12 for off in offsets)
    assert all(torch.allclose(v, eps - x0, atol=1e-12) for v in velocities)


def test_dnaedit_moves_the_source_toward_the_target_mode():
    x_src = source_latent()
    out = dnaedit(conditioned(SOURCE_MODE), conditioned(TARGET_MODE), x_src, DNA_SIGMAS, gaussian(x_src, 3))
    assert share_in_mode(out, TARGET_MODE) >= 0.9


@pytest.mark.parametrize("options, name", [({"mvg": 1.5}, "mvg"), ({"mvg": float("nan")}, "mvg"),
                                           ({"start": 40}, "start"), ({"start": -1}, "start")])
def test_dnaedit_rejects_bad_options_by_name(options, name):
    x_src = source_latent()
    with pytest.raises(ValueError, match=f"^{name}:"):
        dnaedit(conditioned(0), conditioned(1), x_src, DNA_SIGMAS, gaussian(x_src, 0), **options)


@pytest.mark.parametrize("operator", ["uniedit", "dnaedit"])
def test_callback_steps_run_over_the_inversion_then_end_at_the_last_step(operator):
    x_src, seen = source_latent(), []
    callback = lambda i, x, d, s: seen.append(i)   # noqa: E731
    if operator == "uniedit":
        uniedit(conditioned(0), conditioned(2), x_src, SIGMAS, callback=callback)
        steps, used = 15, 9
    else:
        dnaedit(conditioned(0), conditioned(2), x_src, DNA_SIGMAS, gaussian(x_src, 0), callback=callback)
        steps, used = 40, 27
    assert seen == list(range(used)) + list(range(2 * steps - used, 2 * steps))
