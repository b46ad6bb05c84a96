"""Example editing workflows for downloaded checkpoints (written by scripts/build_workflows.py into
workflows/real_models/): UniEdit-Flow (arXiv 2504.13109) on FLUX.1 [dev] and DNAEdit (arXiv 2506.01430) on
SD3.5 Medium, each at its official settings. They are checked against a real server's /object_info
(tests/server/test_real_model_workflows.py), not run. Each builder takes build_workflows.Graph.
"""
from __future__ import annotations

from reflow_workflows import note

UNIEDIT_FLUX_NOTE = (
    "UniEdit-Flow (arXiv 2504.13109) on FLUX.1 [dev], the official FLUX settings (DSL-Lab/UniEdit-Flow): 15 steps, "
    "omega 5, alpha 0.6 (the last 9 steps invert and edit), guidance 1 on both prompts, mask abs per 2x2 token.\n"
    "- Model: flux1-dev.safetensors from huggingface.co/black-forest-labs/FLUX.1-dev in models/diffusion_models/; "
    "VAE: its ae.safetensors in models/vae/.\n"
    "- Text encoders: clip_l.safetensors and t5xxl_fp16.safetensors from huggingface.co/comfyanonymous/"
    "flux_text_encoders in models/text_encoders/.\n"
    "Licence: FLUX.1 [dev] Non-Commercial License (non-commercial use); the UniEdit-Flow code is the authors'.\n"
    "The official code inverts with an empty prompt; here the inversion uses the source prompt (source branch). "
    "Put your image in ComfyUI's input/ folder and describe it in the source prompt.")
DNAEDIT_SD35_NOTE = (
    "DNAEdit (arXiv 2506.01430) on Stable Diffusion 3.5 Medium, the official SD3 settings "
    "(xiechenxi99/DNAEdit_code, configs/DNAEdit_SD3_exp.yaml): 40 steps, start 13, mvg 0.8, source cfg 1, target "
    "cfg 3.5.\n"
    "- Checkpoint: sd3.5_medium_incl_clips_t5xxlfp8scaled.safetensors from huggingface.co/Comfy-Org/"
    "stable-diffusion-3.5-fp8 in models/checkpoints/ (model, text encoders and VAE in one file).\n"
    "Licence: Stability AI Community License (free below USD 1M annual revenue; read the model card).\n"
    "Put your image in ComfyUI's input/ folder (sides multiples of 16) and describe it precisely in the source "
    "prompt; the target prompt changes only what should change.")

FLOWEDIT_SD35_NOTE = (
    "FlowEdit (arXiv 2412.08629) on Stable Diffusion 3.5 Medium, the official SD3 settings (fallenshock/FlowEdit): "
    "50 steps, n_max 33, n_avg 1, source cfg 3.5, target cfg 13.5. Inversion-free: 2 model branches per edited "
    "step, 66 model calls (each with its negative). The sampler's own seed draws the noise.\n"
    "- Checkpoint: sd3.5_medium_incl_clips_t5xxlfp8scaled.safetensors from huggingface.co/Comfy-Org/"
    "stable-diffusion-3.5-fp8 in models/checkpoints/.\n"
    "Licence: Stability AI Community License (free below USD 1M annual revenue; read the model card).\n"
    "Put your image in ComfyUI's input/ folder; the source prompt describes it, the target prompt the edit.")
RF_INVERSION_FLUX_NOTE = (
    "RF-Inversion (arXiv 2410.10792) on FLUX.1 [dev], the official settings (the diffusers community pipeline): "
    "28 steps, gamma 0.5, eta 0.9, controller on for steps 0-6, Flux guidance 1 (inversion, empty prompt) and 3.5 "
    "(target), cfg 1. 2 x 28 model calls; inverts toward the RandomNoise sample.\n"
    "- Model: flux1-dev.safetensors from huggingface.co/black-forest-labs/FLUX.1-dev in models/diffusion_models/; "
    "VAE: its ae.safetensors in models/vae/; text encoders clip_l.safetensors and t5xxl_fp16.safetensors from "
    "huggingface.co/comfyanonymous/flux_text_encoders in models/text_encoders/.\n"
    "Licence: FLUX.1 [dev] Non-Commercial License (non-commercial use).\n"
    "Raise stop_step to stay closer to the source image, lower it for a stronger edit.")


def source_latent(g, vae: tuple[dict, int]) -> dict:
    image = g.node("LoadImage", ["example.png", "image"], [("IMAGE", "IMAGE"), ("MASK", "MASK")], pos=(0, 600),
                   title="Source image")
    encode = g.node("VAEEncode", [], [("LATENT", "LATENT")], [("pixels", "IMAGE"), ("vae", "VAE")], pos=(360, 600))
    g.link(image, 0, encode, "pixels")
    g.link(vae[0], vae[1], encode, "vae")
    return encode


def text(g, clip: tuple[dict, int], prompt: str, title: str, y: int) -> dict:
    node = g.node("CLIPTextEncode", [prompt], [("CONDITIONING", "CONDITIONING")], [("clip", "CLIP")], pos=(360, y),
                  title=title)
    g.link(clip[0], clip[1], node, "clip")
    return node


def edit_and_save(g, model: tuple[dict, int], conds: tuple[dict, dict, dict], vae: tuple[dict, int], latent: dict,
                  cfgs: tuple[float, float], sampler: tuple[str, list, str], steps: int, prefix: str) -> None:
    """Edit Guider + the edit SAMPLER + BasicScheduler + RandomNoise -> SamplerCustomAdvanced -> VAEDecode -> save."""
    guider = g.node("RectiFlowEditGuider", list(cfgs), [("GUIDER", "GUIDER")],
                    [("model", "MODEL"), ("source", "CONDITIONING"), ("target", "CONDITIONING"),
                     ("negative", "CONDITIONING")], pos=(720, 0))
    g.link(model[0], model[1], guider, "model")
    for src, name in zip(conds, ("source", "target", "negative")):
        g.link(src, 0, guider, name)
    node_type, widgets, title = sampler
    edit_sampler = g.node(node_type, widgets, [("SAMPLER", "SAMPLER")], pos=(720, 250), title=title)
    schedule = g.node("BasicScheduler", ["simple", steps, 1.0], [("SIGMAS", "SIGMAS")], [("model", "MODEL")],
                      pos=(720, 450), title=f"{steps} steps")
    g.link(model[0], model[1], schedule, "model")
    noise = g.node("RandomNoise", [2026, "fixed"], [("NOISE", "NOISE")], pos=(720, 650))
    run = g.node("SamplerCustomAdvanced", [], [("output", "LATENT"), ("denoised_output", "LATENT")],
                 [("noise", "NOISE"), ("guider", "GUIDER"), ("sampler", "SAMPLER"), ("sigmas", "SIGMAS"),
                  ("latent_image", "LATENT")], pos=(1080, 0), title="Edited")
    for src, name in ((noise, "noise"), (guider, "guider"), (edit_sampler, "sampler"), (schedule, "sigmas"),
                      (latent, "latent_image")):
        g.link(src, 0, run, name)
    decode = g.node("VAEDecode", [], [("IMAGE", "IMAGE")], [("samples", "LATENT"), ("vae", "VAE")], pos=(1440, 0))
    g.link(run, 0, decode, "samples")
    g.link(vae[0], vae[1], decode, "vae")
    save = g.node("SaveImage", [prefix], [], [("images", "IMAGE")], pos=(1800, 0))
    g.link(decode, 0, save, "images")


def flux_guided(g, cond: dict, guidance: float, y: int) -> dict:
    node = g.node("FluxGuidance", [guidance], [("CONDITIONING", "CONDITIONING")], [("conditioning", "CONDITIONING")],
                  pos=(540, y))
    g.link(cond, 0, node, "conditioning")
    return node


SOURCE_PROMPT = "a photo of a cat sitting on a wooden bench"
TARGET_PROMPT = "a photo of a fox sitting on a wooden bench"


def flux_dev(g, source: tuple[str, str], guidances: tuple[float, float, float]) -> tuple[dict, dict, tuple]:
    """FLUX.1 [dev] loaders and the (source, target, negative) prompts, each through FluxGuidance; (unet, vae, conds).
    `source`: the source prompt and its title."""
    unet = g.node("UNETLoader", ["flux1-dev.safetensors", "default"], [("MODEL", "MODEL")], pos=(0, 0))
    clip = g.node("DualCLIPLoader", ["clip_l.safetensors", "t5xxl_fp16.safetensors", "flux", "default"],
                  [("CLIP", "CLIP")], pos=(0, 200))
    vae = g.node("VAELoader", ["ae.safetensors"], [("VAE", "VAE")], pos=(0, 400))
    prompts = [text(g, (clip, 0), source[0], source[1], 0),
               text(g, (clip, 0), TARGET_PROMPT, "Target prompt", 200),
               text(g, (clip, 0), "", "Negative (unused at cfg 1)", 400)]
    conds = tuple(flux_guided(g, cond, guidance, y) for cond, guidance, y in zip(prompts, guidances, (0, 200, 400)))
    return unet, vae, conds


def sd35_medium(g) -> tuple[dict, tuple]:
    """The SD3.5 Medium all-in-one checkpoint and the (source, target, negative) prompts; (ckpt, conds)."""
    ckpt = g.node("CheckpointLoaderSimple", ["sd3.5_medium_incl_clips_t5xxlfp8scaled.safetensors"],
                  [("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")], pos=(0, 0))
    conds = (text(g, (ckpt, 1), SOURCE_PROMPT, "Source prompt", 0),
             text(g, (ckpt, 1), TARGET_PROMPT, "Target prompt", 200),
             text(g, (ckpt, 1), "", "Negative prompt", 400))
    return ckpt, conds


def uniedit_flux(Graph) -> dict:
    """UniEdit-Flow on FLUX.1 [dev]: 15 steps, omega 5, alpha 0.6, guidance 1, cfg 1, abs mask per 2x2 token."""
    g = Graph()
    unet, vae, conds = flux_dev(g, (SOURCE_PROMPT, "Source prompt"), (1.0, 1.0, 1.0))
    edit_and_save(g, (unet, 0), conds, (vae, 0), source_latent(g, (vae, 0)), (1.0, 1.0),
                  ("RectiFlowSamplerUniEdit", [5.0, 0.6, "abs", 2], "UniEdit-Flow (omega 5, alpha 0.6)"), 15,
                  "rectiflow_uniedit_flux")
    note(g, UNIEDIT_FLUX_NOTE)
    return g.to_json()


def dnaedit_sd35(Graph) -> dict:
    """DNAEdit on SD3.5 Medium: 40 steps, start 13, mvg 0.8, cfg 1 (source) / 3.5 (target)."""
    g = Graph()
    ckpt, conds = sd35_medium(g)
    edit_and_save(g, (ckpt, 0), conds, (ckpt, 2), source_latent(g, (ckpt, 2)), (1.0, 3.5),
                  ("RectiFlowSamplerDNAEdit", [13, 0.8], "DNAEdit (start 13 of 40, mvg 0.8)"), 40,
                  "rectiflow_dnaedit_sd35")
    note(g, DNAEDIT_SD35_NOTE)
    return g.to_json()


def flowedit_sd35(Graph) -> dict:
    """FlowEdit on SD3.5 Medium: 50 steps, n_max 33, cfg 3.5 (source) / 13.5 (target)."""
    g = Graph()
    ckpt, conds = sd35_medium(g)
    edit_and_save(g, (ckpt, 0), conds, (ckpt, 2), source_latent(g, (ckpt, 2)), (3.5, 13.5),
                  ("RectiFlowSamplerFlowEdit", [33, 0, 1, 0, "fixed"], "FlowEdit (n_max 33 of 50)"), 50,
                  "rectiflow_flowedit_sd35")
    note(g, FLOWEDIT_SD35_NOTE)
    return g.to_json()


def rf_inversion_flux(Graph) -> dict:
    """RF-Inversion on FLUX.1 [dev]: 28 steps, gamma 0.5, eta 0.9, stop step 7, guidance 1 / 3.5, cfg 1."""
    g = Graph()
    unet, vae, conds = flux_dev(g, ("", "Source prompt (inversion: empty, as officially)"), (1.0, 3.5, 1.0))
    edit_and_save(g, (unet, 0), conds, (vae, 0), source_latent(g, (vae, 0)), (1.0, 1.0),
                  ("RectiFlowSamplerRFInversion", [0.5, 0.9, 0, 7], "RF-Inversion (gamma 0.5, eta 0.9, stop 7)"), 28,
                  "rectiflow_rf_inversion_flux")
    note(g, RF_INVERSION_FLUX_NOTE)
    return g.to_json()


EDITING_REAL_WORKFLOWS = {"uniedit_flux_dev.json": uniedit_flux, "dnaedit_sd35_medium.json": dnaedit_sd35,
                          "flowedit_sd35_medium.json": flowedit_sd35, "rf_inversion_flux_dev.json": rf_inversion_flux}
