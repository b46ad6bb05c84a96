"""FlowOpt (arXiv 2510.22010) and FlowChef (arXiv 2412.00100) against their official loops, transcribed here
independently in the official code's own form (autograd gradients of mean losses for FlowChef), on analytic flows
with exact velocities; plus the special cases that reduce to known results."""
import pytest
import torch
import torch.nn.functional as F

from rectiflow.models.analytic_flows import four_mode_mixture, latent_mixture
from rectiflow.samplers.editing import flow_opt, flowchef
from rectiflow.samplers.solvers import sample_flow_euler

POINTS = four_mode_mixture(std=0.3)
IMAGES = latent_mixture(channels=2, size=8, modes=4, seed=1)
SOURCE_MODE, TARGET_MODE = 0, 2
SHIFTED = torch.tensor([1.0, 0.93, 0.85, 0.76, 0.66, 0.55, 0.44, 0.33, 0.23, 0.14, 0.06, 0.0], dtype=torch.float64)
pytestmark = pytest.mark.usefixtures("one_thread")


def conditioned(flow, mode: int):
    """Exact velocity of the mixture conditioned on one mode; exactly -x at sigma 0."""
    def v(x: torch.Tensor, sigma: float) -> torch.Tensor:
        if sigma == 0.0:
            return -x
        logits = torch.full((x.shape[0], flow.means.shape[0]), -30.0, dtype=torch.float64)
        logits[:, mode] = 0.0
        return flow.velocity(x, sigma, logits)
    return v


def source_points(n: int = 16) -> torch.Tensor:
    gen = torch.Generator().manual_seed(3)
    return POINTS.means[SOURCE_MODE] + 0.3 * torch.randn(n, 2, dtype=torch.float64, generator=gen)


def source_images(n: int = 3) -> torch.Tensor:
    return IMAGES.sample(n, torch.Generator().manual_seed(5)).reshape(n, 2, 8, 8)


def noise_like(x: torch.Tensor, seed: int = 11) -> torch.Tensor:
    return torch.randn(x.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


# ---- FlowOpt ----

def official_flowopt(v_src, v_tar, x0_src, timesteps, n_max, iterations, eta):
    """utils/sd3.py (uniinv, sd3_denoise, sd3_editing) with t = timestep / 1000 = sigma, transcribed."""
    T = len(timesteps)
    n_start = T - n_max
    timesteps_inv = [0.0] + timesteps[::-1]
    if n_start > 0:
        zipped = zip(timesteps_inv[:-n_start - 1], timesteps_inv[1:-n_start])
    else:
        zipped = zip(timesteps_inv[:-1], timesteps_inv[1:])
    x_t, next_v = x0_src.clone(), None
    for t_cur, t_prev in zipped:
        dt = t_prev - t_cur
        v = v_src(x_t, t_cur) if next_v is None else next_v
        x_t_next = x_t + v * dt
        next_v = v_src(x_t_next, t_prev)
        x_t = x_t + next_v * dt
    j_star = x0_src.clone()
    for flowopt_iter in range(iterations + 1):
        f_xt = x_t.clone()
        window = timesteps[n_start:]
        for i, t in enumerate(window):
            t_im1 = window[i + 1] if i + 1 < len(window) else 0.0
            f_xt = f_xt + v_tar(f_xt, t) * (t_im1 - t)
        if flowopt_iter < iterations:
            x_t = x_t - eta * (f_xt - j_star)
    return f_xt


@pytest.mark.parametrize("n_max, iterations, eta", [(8, 3, 0.05), (11, 8, 0.01), (11, 0, 0.5), (4, 2, 0.2)])
def test_flowopt_matches_official_loop(n_max, iterations, eta):
    x_src = source_points()
    v_src, v_tar = conditioned(POINTS, SOURCE_MODE), conditioned(POINTS, TARGET_MODE)
    ours = flow_opt(v_src, v_tar, x_src, SHIFTED, n_max, iterations, eta)
    reference = official_flowopt(v_src, v_tar, x_src, SHIFTED[:-1].tolist(), n_max, iterations, eta)
    assert torch.allclose(ours, reference, atol=1e-12, rtol=0)


def test_flowopt_without_iterations_or_step_is_invert_and_regenerate():
    """0 iterations, or eta 0, is UniInv of the source then Euler sampling of the target (the pack's Euler)."""
    x_src = source_points()
    v_src, v_tar = conditioned(POINTS, SOURCE_MODE), conditioned(POINTS, TARGET_MODE)
    plain = flow_opt(v_src, v_tar, x_src, SHIFTED, n_max=7, iterations=0)
    assert torch.equal(plain, flow_opt(v_src, v_tar, x_src, SHIFTED, n_max=7, iterations=5, eta=0.0))
    inverted = official_flowopt(v_src, v_src, x_src, SHIFTED[:-1].tolist(), 7, 0, 0.0)   # regenerates the source
    assert (inverted - x_src).abs().max().item() < 0.05


def test_flowopt_iterations_bring_the_reconstruction_closer_to_the_source():
    """Same prompt on both sides: FlowOpt is inversion refinement; more iterations fit the source better."""
    x_src = source_points()
    v = conditioned(POINTS, SOURCE_MODE)
    errors = [(flow_opt(v, v, x_src, SHIFTED, 11, k, 0.3) - x_src).norm().item() for k in (0, 2, 8)]
    assert errors[2] < errors[1] < errors[0]


def test_flowopt_edits_toward_the_target_mode():
    out = flow_opt(conditioned(POINTS, SOURCE_MODE), conditioned(POINTS, TARGET_MODE), source_points(), SHIFTED,
                   n_max=11, iterations=8, eta=0.01)
    assert (torch.cdist(out, POINTS.means).argmin(1) == TARGET_MODE).float().mean().item() >= 0.9


def test_flowopt_reports_every_model_step():
    seen = []
    flow_opt(conditioned(POINTS, 0), conditioned(POINTS, 1), source_points(), SHIFTED, 5, 2, 0.01,
             callback=lambda i, x, d, s: seen.append(i))
    assert seen == list(range(5 * (2 + 2)))


@pytest.mark.parametrize("options, name", [({"n_max": 0}, "n_max"), ({"iterations": -1}, "iterations"),
                                           ({"eta": float("nan")}, "eta"), ({"eta": -0.1}, "eta")])
def test_flowopt_rejects_bad_options(options, name):
    with pytest.raises(ValueError, match=name):
        flow_opt(conditioned(POINTS, 0), conditioned(POINTS, 1), source_points(), SHIFTED, **options)


# ---- FlowChef ----

def centred_gaussian(k: int, sigma: float, channels: int) -> torch.Tensor:
    grid = torch.arange(k, dtype=torch.float64) - (k - 1) / 2
    kernel = torch.exp(-(grid[None] ** 2 + grid[:, None] ** 2) / (2 * sigma ** 2))
    return (kernel / kernel.sum()).repeat(channels, 1, 1, 1)


def official_rfpp_flowchef(v, z, timesteps, degrade, loss_mask, y, gradient_scale):
    """generate_inverseproblems_flowchef.py's sample_ode_generative (euler, default sampler), transcribed."""
    N = len(timesteps) - 1
    for i in range(N):
        t, t_next = timesteps[i], timesteps[i + 1]
        vt = v(z, t)
        if i < N - 1:
            with torch.enable_grad():
                z = z.detach().requires_grad_()
                z_h = z - t * vt
                loss = torch.mean(F.mse_loss(degrade(z_h), y, reduction="none") * loss_mask)
                grads = torch.autograd.grad(loss, z)[0]
                z = z.detach() - gradient_scale * grads
        z = z.detach() + vt * (t_next - t)
    return z


def box_keep(shape, size: int = 4) -> torch.Tensor:
    keep = torch.ones(shape, dtype=torch.float64)
    keep[..., 2:2 + size, 3:3 + size] = 0.0
    return keep


@pytest.mark.parametrize("task", ["inpaint", "super_resolution_x2", "super_resolution_x4", "deblur"])
def test_flowchef_matches_the_official_rfpp_loop(task):
    x_ref, v = source_images(), conditioned(IMAGES, 1)
    noise, g = noise_like(x_ref), 60.0   # step_size 60 * 2 / 384 ~ 0.31 (official 500 at 64 x 64 x 3)
    mask = None
    if task == "inpaint":
        keep = box_keep(x_ref.shape)
        degrade, x_src, mask = (lambda x: x * keep), x_ref, 1.0 - keep[:, :1]
    elif task == "deblur":
        kernel = centred_gaussian(11, 1.0, 2)
        degrade = (lambda x: F.conv2d(x, kernel, padding=5, groups=2))
        x_src = degrade(x_ref)              # ours takes the blurred image as the source
    else:
        scale = int(task[-1])
        degrade, x_src = (lambda x: F.avg_pool2d(x, scale)), x_ref
    y = degrade(x_ref)
    loss_mask = keep if task == "inpaint" else torch.ones_like(y)
    reference = official_rfpp_flowchef(v, noise, SHIFTED.tolist(), degrade, loss_mask, y, g)
    ours = flowchef(v, v, x_src, SHIFTED, noise, task, mask, step_size=g * 2 / x_ref.numel(),
                    max_steps=len(SHIFTED) - 2)
    assert torch.allclose(ours, reference, atol=1e-10, rtol=0)


def official_flux_edit(v_src, v_tar, latents, noise, timesteps, keep, lr, max_steps, source_steps, opt_steps, cfg):
    """fluxcombined.py FluxPipeline.edit's loop (unpacked latents; step_final goes to the last sigma, 0)."""
    masked_latents, x = latents * keep, noise.clone()
    for i, t in enumerate(timesteps[:-1]):
        noise_pred, neg = v_tar(x, t), v_src(x, t)
        if i < max_steps:
            noise_pred = noise_pred + (1 - keep) * (noise_pred - neg) * cfg
            opt = x.detach().clone()
            with torch.enable_grad():
                opt = opt.requires_grad_()
                for _ in range(opt_steps):
                    latents_p = opt + (timesteps[-1] - t) * noise_pred
                    if i < source_steps:
                        loss = (1000 * F.mse_loss(latents_p, latents, reduction="none")).mean()
                    else:
                        loss = (1000 * F.mse_loss(latents_p, masked_latents, reduction="none") * keep).mean()
                    opt = opt - lr * torch.autograd.grad(loss, opt)[0]
            x = opt.detach()
        x = x + (timesteps[i + 1] - t) * noise_pred
    return x


@pytest.mark.parametrize("max_steps, source_steps, opt_steps, cfg", [(11, 4, 5, 4.5), (7, 0, 1, 0.0), (11, 11, 2, 2.0)])
def test_flowchef_editing_matches_the_official_flux_loop(max_steps, source_steps, opt_steps, cfg):
    x_src, noise = source_images(), noise_like(source_images(), 2)
    keep = box_keep(x_src[:, :1].shape)
    v_src, v_tar = conditioned(IMAGES, 0), conditioned(IMAGES, 3)
    lr = 0.02
    reference = official_flux_edit(v_src, v_tar, x_src, noise, SHIFTED.tolist(), keep, lr, max_steps, source_steps,
                                   opt_steps, cfg)
    ours = flowchef(v_src, v_tar, x_src, SHIFTED, noise, "inpaint", 1.0 - keep, step_size=lr * 1000 * 2 / x_src.numel(),
                    optimization_steps=opt_steps, max_steps=max_steps, source_steps=source_steps, edit_cfg=cfg)
    assert torch.allclose(ours, reference, atol=1e-10, rtol=0)


def test_flowchef_without_steering_is_plain_euler_sampling():
    x_src, noise = source_images(), noise_like(source_images())
    v = lambda x, s: IMAGES.velocity(x.flatten(1), s).reshape(x.shape)
    ours = flowchef(v, v, x_src, SHIFTED, noise, "deblur", step_size=0.0)
    euler = sample_flow_euler(IMAGES.model, noise.flatten(1), SHIFTED).reshape(noise.shape)
    assert torch.allclose(ours, euler, atol=1e-12, rtol=0)


def test_flowchef_edit_guidance_outside_the_mask_changes_nothing():
    """edit_cfg acts in the mask only: with an empty mask the source branch does not matter."""
    x_src, noise = source_images(), noise_like(source_images())
    empty = torch.zeros_like(x_src[:, :1])
    a = flowchef(conditioned(IMAGES, 0), conditioned(IMAGES, 3), x_src, SHIFTED, noise, mask=empty, edit_cfg=4.5)
    b = flowchef(conditioned(IMAGES, 2), conditioned(IMAGES, 3), x_src, SHIFTED, noise, mask=empty, edit_cfg=4.5)
    assert torch.equal(a, b)


def test_a_unit_inpainting_step_keeps_the_known_region_exactly_and_fills_the_rest():
    """step_size 1 projects x0 onto the measurement where W = 1: the last step lands on it."""
    x_src, noise = source_images(), noise_like(source_images())
    keep = box_keep(x_src[:, :1].shape)
    out = flowchef(conditioned(IMAGES, 3), conditioned(IMAGES, 3), x_src, SHIFTED, noise, "inpaint", 1.0 - keep,
                   step_size=1.0)
    known = keep.expand_as(x_src).bool()
    assert torch.allclose(out[known], x_src[known], atol=1e-12, rtol=0)
    assert (out[~known] - x_src[~known]).abs().max().item() > 0.1


@pytest.mark.parametrize("task", ["super_resolution_x2", "super_resolution_x4"])
def test_super_resolution_with_a_unit_step_keeps_the_block_means(task):
    """step_size 1 projects the x0 estimate onto the source's block means; the last step lands on it."""
    x_src, noise = source_images(), noise_like(source_images())
    out = flowchef(conditioned(IMAGES, 1), conditioned(IMAGES, 1), x_src, SHIFTED, noise, task, step_size=1.0)
    scale = int(task[-1])
    assert torch.allclose(F.avg_pool2d(out, scale), F.avg_pool2d(x_src, scale), atol=1e-12, rtol=0)
    assert (out - x_src).abs().max().item() > 0.1


def test_the_deblur_operator_is_its_own_adjoint():
    from rectiflow.samplers.editing import measurement_operator

    blur, adjoint = measurement_operator("deblur", 1.5)
    a, b = noise_like(source_images(), 1), noise_like(source_images(), 2)
    assert torch.allclose((blur(a) * b).sum(), (a * adjoint(b)).sum(), atol=1e-10, rtol=0)


@pytest.mark.parametrize("options, name", [({"task": "denoise"}, "task"), ({"step_size": -1.0}, "step_size"),
                                           ({"edit_cfg": float("inf")}, "edit_cfg"), ({"blur_sigma": 0.0}, "blur_sigma"),
                                           ({"optimization_steps": -1}, "optimization_steps")])
def test_flowchef_rejects_bad_options(options, name):
    x_src = source_images()
    with pytest.raises(ValueError, match=name):
        flowchef(conditioned(IMAGES, 0), conditioned(IMAGES, 1), x_src, SHIFTED, noise_like(x_src), **options)


def test_super_resolution_needs_a_divisible_latent():
    x_src = torch.zeros(1, 2, 6, 6, dtype=torch.float64)
    with pytest.raises(ValueError, match="x_src: super_resolution_x4 needs .* divide by 4"):
        flowchef(conditioned(IMAGES, 0), conditioned(IMAGES, 1), x_src, SHIFTED, x_src, "super_resolution_x4")


def counting(v, calls: list):
    def counted(x, sigma):
        calls.append(sigma)
        return v(x, sigma)
    return counted


def test_flowopt_model_calls_are_n_max_times_iterations_plus_two():
    """Plus one at sigma 0 (where v = -x needs no model)."""
    src_calls, tar_calls = [], []
    flow_opt(counting(conditioned(POINTS, 0), src_calls), counting(conditioned(POINTS, 1), tar_calls),
             source_points(), SHIFTED, n_max=6, iterations=3, eta=0.01)
    assert [s for s in src_calls if s == 0.0] == [0.0]
    assert len(src_calls) - 1 + len(tar_calls) == 6 * (3 + 2)


def test_flowchef_calls_the_source_branch_only_for_masked_edit_guidance():
    x_src, tar_calls, src_calls = source_images(), [], []
    never = lambda x, s: pytest.fail("the source branch was called")
    flowchef(never, conditioned(IMAGES, 1), x_src, SHIFTED, noise_like(x_src), "deblur", edit_cfg=4.5)
    keep = box_keep(x_src[:, :1].shape)
    flowchef(counting(conditioned(IMAGES, 0), src_calls), counting(conditioned(IMAGES, 1), tar_calls), x_src,
             SHIFTED, noise_like(x_src), "inpaint", 1.0 - keep, edit_cfg=4.5, max_steps=4)
    assert len(tar_calls) == len(SHIFTED) - 1 and len(src_calls) == 4


def test_flowchef_runs_on_video_latents_with_a_frame_axis():
    x_src = source_images().reshape(3, 1, 2, 8, 8)     # [batch, channels, frames, h, w]
    v = lambda x, s: conditioned(IMAGES, 1)(x.reshape(3, 2, 8, 8), s).reshape(x.shape)
    mask = 1.0 - box_keep((3, 1, 8, 8))
    out = flowchef(v, v, x_src, SHIFTED, noise_like(x_src), "inpaint", mask, step_size=1.0)
    keep = box_keep((3, 1, 1, 8, 8)).expand_as(x_src).bool()
    assert out.shape == x_src.shape and torch.allclose(out[keep], x_src[keep], atol=1e-12, rtol=0)


def test_flowchef_refuses_a_mask_of_another_size():
    x_src = source_images()
    with pytest.raises(ValueError, match=r"mask: expected a weight \[B, 1, h, w\] at the latent's size \[8, 8\]"):
        flowchef(conditioned(IMAGES, 0), conditioned(IMAGES, 1), x_src, SHIFTED, noise_like(x_src), "inpaint",
                 torch.zeros(3, 1, 4, 4))
