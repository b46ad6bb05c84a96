"""Placeholder workflow for RF-Solver-Edit / FireFlow editing on Flux.1-dev (written by scripts/build_workflows.py
into workflows/real_models/): checked against a real server's /object_info, not run (no Flux weights on the test
machines). Each builder takes build_workflows.Graph."""
from __future__ import annotations

FLUX_RF_SOLVER_EDIT_NOTE = (
    "RF-Solver-Edit (arXiv 2411.04746) on FLUX.1-dev: invert the image under the source prompt with RF-Solver, "
    "regenerate under the target prompt, sharing the inversion's attention values (V) in the first inject_steps "
    "steps.\n"
    "- Model: flux1-dev.safetensors from huggingface.co/black-forest-labs/FLUX.1-dev in models/diffusion_models/ "
    "(licence: FLUX.1 [dev] Non-Commercial License); VAE: ae.safetensors from the same repository in models/vae/.\n"
    "- Text encoders: clip_l.safetensors and t5xxl_fp16.safetensors from huggingface.co/comfyanonymous/"
    "flux_text_encoders in models/text_encoders/ (licences: CLIP MIT, T5 Apache-2.0).\n"
    "- Put your image in ComfyUI's input/ folder and pick it in Load Image; keep it about 1 megapixel.\n"
    "Official settings: 15-30 steps, inject 2-5 (more: closer to the source), guidance 1 for the inversion "
    "(source) and 2-2.5 for the target, cfg 1. FireFlow (solver fireflow, arXiv 2412.07517): 8-15 steps, inject 1.")


def flux_rf_solver_edit(Graph) -> dict:
    """Flux.1-dev: VAE Encode the image -> SamplerCustomAdvanced(Edit Guider, RF-Solver Edit, 25 steps, inject 5)."""
    g = Graph()
    unet = g.node("UNETLoader", ["flux1-dev.safetensors", "default"], [("MODEL", "MODEL")], pos=(0, 0))
    clip = g.node("DualCLIPLoader", ["clip_l.safetensors", "t5xxl_fp16.safetensors", "flux", "default"],
                  [("CLIP", "CLIP")], pos=(0, 200))
    vae = g.node("VAELoader", ["ae.safetensors"], [("VAE", "VAE")], pos=(0, 400))
    image = g.node("LoadImage", ["example.png", "image"], [("IMAGE", "IMAGE"), ("MASK", "MASK")], pos=(0, 600),
                   title="Source image")
    shifted = g.node("ModelSamplingFlux", [1.15, 0.5, 1024, 1024], [("MODEL", "MODEL")], [("model", "MODEL")],
                     pos=(360, 0))
    g.link(unet, 0, shifted, "model")
    conds = {}
    for role, text, guidance, y in (("source", "A young boy is riding a brown horse in a countryside field.", 1.0, 200),
                                    ("target", "A young boy is riding a camel in a countryside field.", 2.0, 400)):
        encode = g.node("CLIPTextEncode", [text], [("CONDITIONING", "CONDITIONING")], [("clip", "CLIP")],
                        pos=(360, y), title=f"{role.capitalize()} prompt")
        g.link(clip, 0, encode, "clip")
        conds[role] = g.node("FluxGuidance", [guidance], [("CONDITIONING", "CONDITIONING")],
                             [("conditioning", "CONDITIONING")], pos=(720, y), title=f"{role.capitalize()} guidance")
        g.link(encode, 0, conds[role], "conditioning")
    negative = g.node("ConditioningZeroOut", [], [("CONDITIONING", "CONDITIONING")],
                      [("conditioning", "CONDITIONING")], pos=(720, 600), title="Negative (unused at cfg 1)")
    g.link(conds["source"], 0, negative, "conditioning")
    encode_image = g.node("VAEEncode", [], [("LATENT", "LATENT")], [("pixels", "IMAGE"), ("vae", "VAE")],
                          pos=(360, 600))
    g.link(image, 0, encode_image, "pixels")
    g.link(vae, 0, encode_image, "vae")
    guider = g.node("RectiFlowEditGuider", [1.0, 1.0], [("GUIDER", "GUIDER")],
                    [("model", "MODEL"), ("source", "CONDITIONING"), ("target", "CONDITIONING"),
                     ("negative", "CONDITIONING")], pos=(1080, 0), title="Edit Guider (Flux: cfg 1, FluxGuidance)")
    for src, name in ((shifted, "model"), (conds["source"], "source"), (conds["target"], "target"),
                      (negative, "negative")):
        g.link(src, 0, guider, name)
    sampler = g.node("RectiFlowSamplerRFSolverEdit", ["rf_solver", 5, "late"], [("SAMPLER", "SAMPLER")],
                     pos=(1080, 200), title="RF-Solver Edit (inject 5 of 25)")
    steps = g.node("BasicScheduler", ["simple", 25, 1.0], [("SIGMAS", "SIGMAS")], [("model", "MODEL")],
                   pos=(1080, 400), title="25 steps")
    g.link(shifted, 0, steps, "model")
    noise = g.node("DisableNoise", [], [("NOISE", "NOISE")], pos=(1080, 600), title="Noise (not used)")
    edit = g.node("SamplerCustomAdvanced", [], [("output", "LATENT"), ("denoised_output", "LATENT")],
                  [("noise", "NOISE"), ("guider", "GUIDER"), ("sampler", "SAMPLER"), ("sigmas", "SIGMAS"),
                   ("latent_image", "LATENT")], pos=(1440, 0), title="Edited")
    for src, name in ((noise, "noise"), (guider, "guider"), (sampler, "sampler"), (steps, "sigmas"),
                      (encode_image, "latent_image")):
        g.link(src, 0, edit, name)
    decode = g.node("VAEDecode", [], [("IMAGE", "IMAGE")], [("samples", "LATENT"), ("vae", "VAE")], pos=(1800, 0))
    g.link(edit, 0, decode, "samples")
    g.link(vae, 0, decode, "vae")
    save = g.node("SaveImage", ["rectiflow_flux_rf_solver_edit"], [], [("images", "IMAGE")], pos=(2160, 0))
    g.link(decode, 0, save, "images")
    g.node("Note", [FLUX_RF_SOLVER_EDIT_NOTE], pos=(0, 900), title="Checkpoints, licence, settings")
    return g.to_json()


SOLVER_EDIT_WORKFLOWS = {"flux_rf_solver_edit.json": flux_rf_solver_edit}
