"""Example workflows for PeRFlow (arXiv 2405.07510) and Rectified Diffusion (arXiv 2410.07303), written by
scripts/build_workflows.py into workflows/real_models/ beside the InstaFlow ones (reflow_workflows.py, whose helpers
they reuse). They need downloaded checkpoints: checked against a real server's /object_info, not run. Each samples
with SamplerCustomAdvanced: the family's schedule node, ComfyUI's stock sampler, CFGGuider.
"""
from __future__ import annotations

from reflow_workflows import note, prompts, sd15_encoders

PERFLOW_NOTE = (
    "PeRFlow (piecewise rectified flow, arXiv 2405.07510) on SD1.5, the official example: 8 steps, cfg 7.5, "
    "euler on RectiFlow PeRFlow Schedule (its 4 time windows) = PeRFlowScheduler.\n"
    "- UNet: the unet/ folder of huggingface.co/hansyan/perflow-sd15-dreamshaper as "
    "models/diffusers/perflow-sd15-dreamshaper/unet/ (config.json + diffusion_pytorch_model.safetensors; variant "
    "empty). Also: hansyan/perflow-sd15-realisticVisionV51, perflow-sd15-disney; SDXL: hansyan/perflow-sdxl-base, "
    "perflow-sdxl-dreamshaper (variant v0-fix; base sdxl, 6 steps, cfg 2, 1024x1024).\n"
    "- Text encoder: that repository's text_encoder/model.safetensors in models/text_encoders/ (CLIPLoader type "
    "stable_diffusion); VAE: its vae/diffusion_pytorch_model.safetensors in models/vae/.\n"
    "Licence: PeRFlow's code is BSD-3-Clause (github.com/magic-research/piecewise-rectified-flow); for the weights "
    "read the model card; they derive from SD1.5 / DreamShaper, both under CreativeML Open RAIL-M.\n"
    "Defaults: SD1.5 4-8 steps, cfg 4.5-7.5; at least 4 steps (one per window).")
PERFLOW_DELTA_NOTE = (
    "PeRFlow as a plug-in accelerator: W = W_base + dW (arXiv 2405.07510), here on any SD1.5 checkpoint.\n"
    "- Base: your SD1.5 checkpoint (e.g. huggingface.co/Lykon/dreamshaper-8 as a single file) in "
    "models/checkpoints/.\n"
    "- Delta: huggingface.co/hansyan/perflow-sd15-delta-weights as models/diffusers/perflow-sd15-delta-weights/ "
    "(config.json + diffusion_pytorch_model.v0-1.safetensors; variant v0-1).\n"
    "- RectiFlow Reflow Model Sampling (perflow_sd15) then gives the merged model PeRFlow's sampling.\n"
    "Licence: code BSD-3-Clause (magic-research/piecewise-rectified-flow); for the delta read its model card; it and "
    "the bases derive from SD1.5 (CreativeML Open RAIL-M).\n"
    "Defaults: 4-8 steps, cfg 4.5-7.5.")
RD_NOTE = (
    "Rectified Diffusion (arXiv 2410.07303), rd checkpoint: 2 steps, cfg 1.5, ComfyUI's ddim on RectiFlow Trailing "
    "DDIM Schedule = diffusers' DDIMScheduler (trailing, eta 0, set_alpha_to_one off) with diffusers' 'linear' betas, "
    "which the loader installs.\n"
    "- UNet: huggingface.co/wangfuyun/Rectified-Diffusion weights/rd.ckpt (also cm.ckpt: cfg 1, 1-2 steps; "
    "phased.ckpt: 4 steps; phasedxl.ckpt: SDXL, 4 steps, 1024x1024). They are pickles: run "
    "`rectiflow-convert-ckpt rd.ckpt` and put rd.safetensors in models/diffusion_models/.\n"
    "- Text encoder and VAE: SD1.5's (huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5 text_encoder/ and "
    "vae/; SDXL base's for phasedxl).\n"
    "Licence: github.com/G-U-N/Rectified-Diffusion has no LICENSE file; for the weights read the model card; they "
    "derive from SD1.5 / SDXL (CreativeML Open RAIL-M / CreativeML Open RAIL++-M).\n"
    "Step counts dividing 1000 (1, 2, 4, 5, 8, 10, 20, 25) match diffusers exactly; others log a warning.")
NEGATIVE = "distorted, blur, smooth, low-quality, warm, haze, over-saturated, high-contrast, out of focus, dark"


def custom_sample_decode_save(g, model: tuple[dict, int], conds: tuple[dict, dict], vae: tuple[dict, int],
                              sigmas: dict, cfg: float, sampler: str, size: int, prefix: str) -> None:
    """RandomNoise + CFGGuider + KSamplerSelect + `sigmas` -> SamplerCustomAdvanced -> VAEDecode -> SaveImage."""
    noise = g.node("RandomNoise", [2026, "fixed"], [("NOISE", "NOISE")], pos=(720, 0))
    guider = g.node("CFGGuider", [cfg], [("GUIDER", "GUIDER")],
                    [("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING")], pos=(720, 150))
    select = g.node("KSamplerSelect", [sampler], [("SAMPLER", "SAMPLER")], pos=(720, 300))
    latent = g.node("EmptyLatentImage", [size, size, 1], [("LATENT", "LATENT")], pos=(720, 450))
    run = g.node("SamplerCustomAdvanced", [], [("output", "LATENT"), ("denoised_output", "LATENT")],
                 [("noise", "NOISE"), ("guider", "GUIDER"), ("sampler", "SAMPLER"), ("sigmas", "SIGMAS"),
                  ("latent_image", "LATENT")], pos=(1080, 0))
    decode = g.node("VAEDecode", [], [("IMAGE", "IMAGE")], [("samples", "LATENT"), ("vae", "VAE")], pos=(1440, 0))
    save = g.node("SaveImage", [prefix], [], [("images", "IMAGE")], pos=(1800, 0))
    g.link(model[0], model[1], guider, "model")
    g.link(conds[0], 0, guider, "positive")
    g.link(conds[1], 0, guider, "negative")
    for src, name in ((noise, "noise"), (guider, "guider"), (select, "sampler"), (sigmas, "sigmas"),
                      (latent, "latent_image")):
        g.link(src, 0, run, name)
    g.link(run, 0, decode, "samples")
    g.link(vae[0], vae[1], decode, "vae")
    g.link(decode, 0, save, "images")


def perflow_sd15_few_steps(Graph) -> dict:
    """PeRFlow SD1.5 (DreamShaper): 8 euler steps on PeRFlow's windows, cfg 7.5, as the README example."""
    g = Graph()
    loader = g.node("RectiFlowLoadPeRFlow", ["sd15", "[diffusers] perflow-sd15-dreamshaper/unet", ""],
                    [("MODEL", "MODEL")], pos=(0, 0))
    clip, vae = sd15_encoders(g)
    conds = prompts(g, clip, 0, "RAW photo, 8k uhd, dslr, high quality, film grain, highly detailed, masterpiece; "
                                "A colorful bird standing on the tree, open beak", NEGATIVE)
    schedule = g.node("RectiFlowPeRFlowScheduler", [8], [("SIGMAS", "SIGMAS")], pos=(360, 600))
    custom_sample_decode_save(g, (loader, 0), conds, (vae, 0), schedule, 7.5, "euler", 512, "rectiflow_perflow")
    note(g, PERFLOW_NOTE)
    return g.to_json()


def perflow_sd15_delta(Graph) -> dict:
    """Load Checkpoint (SD1.5) -> Merge Delta (PeRFlow dW) -> Reflow Model Sampling -> 4 euler steps, cfg 4.5."""
    g = Graph()
    ckpt = g.node("CheckpointLoaderSimple", ["dreamshaper_8.safetensors"],
                  [("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")], pos=(0, 0))
    merge = g.node("RectiFlowMergeDelta", ["[diffusers] perflow-sd15-delta-weights", "v0-1", 1.0],
                   [("MODEL", "MODEL")], [("model", "MODEL")], pos=(360, 600))
    sampling = g.node("RectiFlowReflowModelSampling", ["perflow_sd15"], [("MODEL", "MODEL")], [("model", "MODEL")],
                      pos=(360, 750))
    g.link(ckpt, 0, merge, "model")
    g.link(merge, 0, sampling, "model")
    conds = prompts(g, ckpt, 1, "A man with brown skin, a beard, and dark eyes", NEGATIVE)
    schedule = g.node("RectiFlowPeRFlowScheduler", [4], [("SIGMAS", "SIGMAS")], pos=(360, 900))
    custom_sample_decode_save(g, (sampling, 0), conds, (ckpt, 2), schedule, 4.5, "euler", 512,
                              "rectiflow_perflow_delta")
    note(g, PERFLOW_DELTA_NOTE)
    return g.to_json()


def rectified_diffusion_two_steps(Graph) -> dict:
    """Rectified Diffusion (rd): 2 trailing-DDIM steps, cfg 1.5, as the paper's evaluation (gen_5k.sh)."""
    g = Graph()
    loader = g.node("RectiFlowLoadRectifiedDiffusion", ["rd", "rd.safetensors"], [("MODEL", "MODEL")], pos=(0, 0))
    clip, vae = sd15_encoders(g)
    conds = prompts(g, clip, 0, "A hyper-realistic photo of a cute cat.", "")
    schedule = g.node("RectiFlowTrailingDDIMScheduler", [2, False], [("SIGMAS", "SIGMAS")], [("model", "MODEL")],
                      pos=(360, 600))
    g.link(loader, 0, schedule, "model")
    custom_sample_decode_save(g, (loader, 0), conds, (vae, 0), schedule, 1.5, "ddim", 512,
                              "rectiflow_rectified_diffusion")
    note(g, RD_NOTE)
    return g.to_json()


FAMILY_WORKFLOWS = {"perflow_sd15_few_steps.json": perflow_sd15_few_steps,
                    "perflow_sd15_delta.json": perflow_sd15_delta,
                    "rectified_diffusion_two_steps.json": rectified_diffusion_two_steps}
