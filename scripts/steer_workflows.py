"""Real-model example workflows for the FlowOpt and FlowChef edit samplers (written by scripts/build_workflows.py
into workflows/real_models/; checked against a real server's /object_info, not run). Each builder takes
build_workflows.Graph (passed in, so this module imports nothing from the script that imports it).
"""
from __future__ import annotations

FLUX_DEV = "flux1-dev-fp8.safetensors"
FLUX_SCHNELL = "flux1-schnell-fp8.safetensors"
FLOWOPT_NOTE = (
    "FlowOpt (arXiv 2510.22010) on FLUX.1 [dev], the official Flux settings: 15 steps, n_max 13, 8 iterations, "
    "eta 0.0025, Flux guidance 1.0 (source) and 3.5 (target), cfg 1. Model calls per edit: n_max x (iterations + 2)"
    " = 130.\n"
    "- Checkpoint: flux1-dev-fp8.safetensors from huggingface.co/Comfy-Org/flux1-dev in models/checkpoints/.\n"
    "Licence: FLUX.1 [dev] Non-Commercial License (Black Forest Labs).\n"
    "- Load Image: the picture to edit (the official settings were tuned at 1024 x 1024). Write prompts that "
    "describe the source and the edited image; for SD3 use eta 0.01, n_max 12 and cfg 1.0 / 3.5.")
FLOWCHEF_NOTE = (
    "FlowChef (arXiv 2412.00100) editing on FLUX.1 [schnell], as the official src/flux_edit.py: 30 steps, "
    "learning rate 0.6 (step_size 0.0046 at 1024 x 1024), 5 optimization steps, 10 source steps, edit_cfg 4.5 "
    "(the source prompt as negative, inside the mask). Model calls per edit: 30 + 30 = 60.\n"
    "- Checkpoint: flux1-schnell-fp8.safetensors from huggingface.co/Comfy-Org/flux1-schnell in "
    "models/checkpoints/. Licence: Apache-2.0.\n"
    "- Load Image: right-click > Open in MaskEditor and paint the object to edit; the mask goes to the sampler.")


def note(g, text: str) -> dict:
    return g.node("Note", [text], pos=(0, 900), title="Checkpoints, licence, settings")


def text(g, ckpt: dict, prompt: str, title: str, guidance: float | None, pos) -> dict:
    """CLIPTextEncode (+ FluxGuidance when `guidance` is set)."""
    encode = g.node("CLIPTextEncode", [prompt], [("CONDITIONING", "CONDITIONING")], [("clip", "CLIP")], pos=pos,
                    title=title)
    g.link(ckpt, 1, encode, "clip")
    if guidance is None:
        return encode
    flux = g.node("FluxGuidance", [guidance], [("CONDITIONING", "CONDITIONING")],
                  [("conditioning", "CONDITIONING")], pos=(pos[0] + 360, pos[1]), title=f"Flux guidance {guidance:g}")
    g.link(encode, 0, flux, "conditioning")
    return flux


def flux_edit(Graph, checkpoint: str, sampler_type: str, widgets: list, guidance: tuple, steps: int, prefix: str,
              text_note: str, with_mask: bool) -> dict:
    """Load Image -> VAE Encode -> SamplerCustomAdvanced(Edit Guider, edit SAMPLER) -> VAE Decode -> Save."""
    g = Graph()
    ckpt = g.node("CheckpointLoaderSimple", [checkpoint], [("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")],
                  pos=(0, 0))
    image = g.node("LoadImage", ["example.png", "image"], [("IMAGE", "IMAGE"), ("MASK", "MASK")], pos=(0, 300),
                   title="Source image (paint the mask here)" if with_mask else "Source image")
    encode = g.node("VAEEncode", [], [("LATENT", "LATENT")], [("pixels", "IMAGE"), ("vae", "VAE")], pos=(360, 300))
    g.link(image, 0, encode, "pixels")
    g.link(ckpt, 2, encode, "vae")
    source = text(g, ckpt, "a photo of a cat sitting on a wooden bench", "Source prompt", guidance[0], (360, 0))
    target = text(g, ckpt, "a photo of a tiger sitting on a wooden bench", "Target prompt", guidance[1], (360, 150))
    negative = text(g, ckpt, "", "Negative (unused at cfg 1)", None, (360, 450))
    guider = g.node("RectiFlowEditGuider", [1.0, 1.0], [("GUIDER", "GUIDER")],
                    [("model", "MODEL"), ("source", "CONDITIONING"), ("target", "CONDITIONING"),
                     ("negative", "CONDITIONING")], pos=(1080, 0), title="Edit Guider (cfg 1: Flux guidance)")
    for src, slot, name in ((ckpt, 0, "model"), (source, 0, "source"), (target, 0, "target"),
                            (negative, 0, "negative")):
        g.link(src, slot, guider, name)
    sampler = g.node(sampler_type, widgets, [("SAMPLER", "SAMPLER")], pos=(1080, 200))
    if with_mask:
        sampler["inputs"].append({"name": "mask", "type": "MASK", "link": None})
        g.link(image, 1, sampler, "mask")
    schedule = g.node("BasicScheduler", ["simple", steps, 1.0], [("SIGMAS", "SIGMAS")], [("model", "MODEL")],
                      pos=(1080, 400), title=f"{steps} steps")
    g.link(ckpt, 0, schedule, "model")
    noise = g.node("RandomNoise", [2026, "fixed"], [("NOISE", "NOISE")], pos=(1080, 550))
    edit = g.node("SamplerCustomAdvanced", [], [("output", "LATENT"), ("denoised_output", "LATENT")],
                  [("noise", "NOISE"), ("guider", "GUIDER"), ("sampler", "SAMPLER"), ("sigmas", "SIGMAS"),
                   ("latent_image", "LATENT")], pos=(1440, 0), title="Edit")
    for src, name in ((noise, "noise"), (guider, "guider"), (sampler, "sampler"), (schedule, "sigmas"),
                      (encode, "latent_image")):
        g.link(src, 0, edit, name)
    decode = g.node("VAEDecode", [], [("IMAGE", "IMAGE")], [("samples", "LATENT"), ("vae", "VAE")], pos=(1800, 0))
    g.link(edit, 0, decode, "samples")
    g.link(ckpt, 2, decode, "vae")
    save = g.node("SaveImage", [prefix], [], [("images", "IMAGE")], pos=(2160, 0))
    g.link(decode, 0, save, "images")
    note(g, text_note)
    return g.to_json()


def flux_flowopt(Graph) -> dict:
    return flux_edit(Graph, FLUX_DEV, "RectiFlowSamplerFlowOpt", [13, 8, 0.0025], (1.0, 3.5), 15,
                     "rectiflow_flowopt_flux", FLOWOPT_NOTE, with_mask=False)


def flux_flowchef(Graph) -> dict:
    return flux_edit(Graph, FLUX_SCHNELL, "RectiFlowSamplerFlowChef", ["inpaint", 0.0046, 5, 30, 10, 4.5, 1.0],
                     (None, None), 30, "rectiflow_flowchef_flux", FLOWCHEF_NOTE, with_mask=True)


STEER_WORKFLOWS = {"flux_flowopt_edit.json": flux_flowopt, "flux_flowchef_edit.json": flux_flowchef}
