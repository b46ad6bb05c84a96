"""The embedded digits model inside the real ComfyUI: stock KSampler, SamplerCustomAdvanced, our Euler."""
import pytest
import torch

from rectiflow.testing.comfy_host import run_node
from digits_helpers import DEFAULT_CFG, accuracy, digits_model, empty_latent, labels_cond

LABELS = list(range(10))


def test_loader_gives_a_flow_model(comfy):
    import comfy.model_sampling

    model = digits_model()
    sampling = model.get_model_object("model_sampling")
    assert isinstance(sampling, comfy.model_sampling.CONST)
    assert float(sampling.sigma_max) == pytest.approx(1.0)
    assert float(sampling.timestep(torch.tensor(0.5))) == pytest.approx(500.0)


@pytest.mark.parametrize("sampler_name, scheduler", [("euler", "simple"), ("dpmpp_2m", "sgm_uniform"),
                                                     ("heun", "beta")])
def test_stock_ksampler_draws_the_requested_digits(comfy, sampler_name, scheduler):
    latent = run_node("KSampler", model=digits_model(), seed=7, steps=16, cfg=DEFAULT_CFG, sampler_name=sampler_name,
                      scheduler=scheduler, positive=labels_cond("0 1 2 3 4 5 6 7 8 9"),
                      negative=labels_cond("null"), latent_image=empty_latent(40), denoise=1.0)[0]
    samples = latent["samples"]
    assert samples.shape == (40, 1, 16, 16)
    assert accuracy(samples, LABELS) >= 0.85


def custom_advanced(sampler, sigmas, batch=20, seed=3):
    noise = run_node("RandomNoise", noise_seed=seed)[0]
    guider = run_node("CFGGuider", model=digits_model(), positive=labels_cond("0 1 2 3 4 5 6 7 8 9"),
                      negative=labels_cond("null"), cfg=DEFAULT_CFG)[0]
    return run_node("SamplerCustomAdvanced", noise=noise, guider=guider, sampler=sampler, sigmas=sigmas,
                    latent_image=empty_latent(batch))[0]["samples"]


def test_rectiflow_euler_matches_comfyui_euler(comfy):
    model = digits_model()
    sigmas = run_node("BasicScheduler", model=model, scheduler="simple", steps=12, denoise=1.0)[0]
    ours = custom_advanced(run_node("RectiFlowSamplerEuler")[0], sigmas)
    stock = custom_advanced(run_node("KSamplerSelect", sampler_name="euler")[0], sigmas)
    torch.testing.assert_close(ours, stock, atol=1e-5, rtol=1e-5)
    assert accuracy(ours, LABELS) >= 0.85


def test_rectiflow_euler_reports_progress_every_step(comfy):
    import comfy.utils

    steps = []
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview, node_id=None: steps.append((value, total)))
    try:
        sigmas = run_node("BasicScheduler", model=digits_model(), scheduler="simple", steps=6, denoise=1.0)[0]
        custom_advanced(run_node("RectiFlowSamplerEuler")[0], sigmas, batch=2)
    finally:
        comfy.utils.set_progress_bar_global_hook(None)
    assert steps == [(i, 6) for i in range(1, 7)]


def test_rectiflow_euler_honours_interrupts(comfy):
    import comfy.model_management

    sigmas = run_node("BasicScheduler", model=digits_model(), scheduler="simple", steps=6, denoise=1.0)[0]
    comfy.model_management.interrupt_current_processing(True)
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            custom_advanced(run_node("RectiFlowSamplerEuler")[0], sigmas, batch=2)
    finally:
        comfy.model_management.interrupt_current_processing(False)


def test_latent_to_image_grid(comfy):
    latent = {"samples": torch.linspace(-1, 1, 3 * 256).view(3, 1, 16, 16)}
    single = run_node("RectiFlowDigitsLatentToImage", samples=latent, scale=2, grid_columns=0)[0]
    assert single.shape == (3, 32, 32, 3)
    assert single.min() >= 0 and single.max() <= 1
    grid = run_node("RectiFlowDigitsLatentToImage", samples=latent, scale=2, grid_columns=2)[0]
    assert grid.shape == (1, 64, 64, 3)
    torch.testing.assert_close(grid[0, :32, 32:], single[1])
    assert grid[0, 32:, 32:].abs().sum() == 0


def test_previews_decode_the_digits_latent(comfy):
    import comfy.utils
    from comfy.cli_args import LatentPreviewMethod, args

    previews = []
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview, node_id=None: previews.append(preview))
    old, args.preview_method = args.preview_method, LatentPreviewMethod.Latent2RGB
    try:
        sigmas = run_node("BasicScheduler", model=digits_model(), scheduler="simple", steps=3, denoise=1.0)[0]
        custom_advanced(run_node("RectiFlowSamplerEuler")[0], sigmas, batch=2)
    finally:
        args.preview_method = old
        comfy.utils.set_progress_bar_global_hook(None)
    assert len(previews) == 3
    kind, image, _ = previews[-1]
    assert kind == "JPEG" and image.size == (16, 16)


def test_digits_accuracy_at_32_euler_steps_and_default_guidance(comfy):
    sigmas = run_node("BasicScheduler", model=digits_model(), scheduler="simple", steps=32, denoise=1.0)[0]
    samples = custom_advanced(run_node("RectiFlowSamplerEuler")[0], sigmas, batch=200, seed=11)
    assert accuracy(samples, LABELS) >= 0.9
