"""Example workflows for the reflow checkpoint families (written by scripts/build_workflows.py into
workflows/real_models/). They need downloaded checkpoints, so they are checked against a real server's
/object_info (tests/server/test_real_model_workflows.py) but not run; file names are placeholders that the Note
on each canvas explains. Each builder takes build_workflows.Graph (passed in, so this module imports nothing
from the script that imports it).
"""
from __future__ import annotations

INSTAFLOW_NOTE = (
    "InstaFlow-0.9B (arXiv 2309.06380), one step. Files (rename to the names in the loaders or pick yours):\n"
    "- UNet: the unet/ folder of huggingface.co/XCLIU/instaflow_0_9B_from_sd_1_5, as "
    "models/diffusers/instaflow_0_9B_from_sd_1_5/unet/ (config.json + diffusion_pytorch_model.safetensors).\n"
    "- Text encoder: its text_encoder/model.safetensors in models/text_encoders/ (CLIPLoader type "
    "stable_diffusion); VAE: its vae/diffusion_pytorch_model.safetensors (or SD1.5's VAE) in models/vae/.\n"
    "Licence: CC-BY-NC-4.0, non-commercial (InstaFlow's code/README.md), and SD1.5's CreativeML Open RAIL-M.\n"
    "Official settings: 1 step, cfg 1, no negative prompt (the negative below is ignored at cfg 1).")
TWO_RF_NOTE = (
    "2-Rectified Flow from SD1.5 (arXiv 2209.03003, 2309.06380), a few Euler steps.\n"
    "- UNet: the unet/ folder of huggingface.co/XCLIU/2_rectified_flow_from_sd_1_5, as "
    "models/diffusers/2_rectified_flow_from_sd_1_5/unet/.\n"
    "- Text encoder and VAE: that repository's text_encoder/ and vae/ files (SD1.5's), as for InstaFlow.\n"
    "Licence: CC-BY-NC-4.0, non-commercial, and SD1.5's CreativeML Open RAIL-M.\n"
    "Official advice: 2-8 steps, cfg 1-2; negative prompts work as in SD1.5.")
NOOBAI_NOTE = (
    "RF conversion of an SDXL checkpoint: NoobAI-RF (huggingface.co/CabalResearch/NoobAI-RectifiedFlow-"
    "Experimental; licence: fair-ai-public-license-1.0-sd). Put its single .safetensors in "
    "models/checkpoints/; Load Checkpoint reads it as SDXL and the preset switches it to flow sampling "
    "(SD3 convention, shift 3).\n"
    "Authors' advice for their RF releases: euler, 20-28 steps, cfg 3-6, shift 3-8 (use preset 'custom' to "
    "change the shift). nyaflow-xl (huggingface.co/nyanko7/nyaflow-xl-alpha, licence MIT) works the same "
    "with preset 'nyaflow-xl' (shift 1.0, not published by its authors).")
DELTA_NOTE = (
    "InstaFlow + a style delta, as InstaFlow's demo (code/local_gradio.py) does with dreamshaper-7: "
    "dW = UNet(huggingface.co/Lykon/dreamshaper-7) - UNet(SD1.5), diffusers keys, merged at strength 1.\n"
    "- The demo's get_dW_and_merge(save_dW=True) writes dreamshaper-7_dW.pt (a pickle): convert it with "
    "`rectiflow-convert-ckpt dreamshaper-7_dW.pt` and put dreamshaper-7_dW.safetensors in "
    "models/diffusion_models/. PeRFlow's delta releases (diffusers folders) merge with the same node.\n"
    "- InstaFlow files and licence (CC-BY-NC-4.0, non-commercial) as in the InstaFlow workflow; dreamshaper-7 "
    "is under CreativeML Open RAIL-M.")

SD15_TEXT_ENCODER = "sd15_text_encoder.safetensors"
SD15_VAE = "sd15_vae.safetensors"
INSTAFLOW_UNET = "[diffusers] instaflow_0_9B_from_sd_1_5/unet"


def note(g, text: str, pos=(0, 900)) -> dict:
    return g.node("Note", [text], pos=pos, title="Checkpoints, licence, settings")


def prompts(g, clip_src: dict, clip_slot: int, positive: str, negative: str) -> tuple[dict, dict]:
    pos = g.node("CLIPTextEncode", [positive], [("CONDITIONING", "CONDITIONING")], [("clip", "CLIP")],
                 pos=(360, 0), title="Positive prompt")
    neg = g.node("CLIPTextEncode", [negative], [("CONDITIONING", "CONDITIONING")], [("clip", "CLIP")],
                 pos=(360, 200), title="Negative prompt")
    g.link(clip_src, clip_slot, pos, "clip")
    g.link(clip_src, clip_slot, neg, "clip")
    return pos, neg


def sample_decode_save(g, model: tuple[dict, int], conds: tuple[dict, dict], vae: tuple[dict, int], size: int,
                       sampler_widgets: list, prefix: str) -> None:
    """EmptyLatentImage -> KSampler(model, conds) -> VAEDecode -> SaveImage."""
    latent = g.node("EmptyLatentImage", [size, size, 1], [("LATENT", "LATENT")], pos=(360, 400))
    sampler = g.node("KSampler", sampler_widgets, [("LATENT", "LATENT")],
                     [("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING"),
                      ("latent_image", "LATENT")], pos=(720, 0))
    decode = g.node("VAEDecode", [], [("IMAGE", "IMAGE")], [("samples", "LATENT"), ("vae", "VAE")], pos=(1080, 0))
    save = g.node("SaveImage", [prefix], [], [("images", "IMAGE")], pos=(1440, 0))
    g.link(model[0], model[1], sampler, "model")
    g.link(conds[0], 0, sampler, "positive")
    g.link(conds[1], 0, sampler, "negative")
    g.link(latent, 0, sampler, "latent_image")
    g.link(sampler, 0, decode, "samples")
    g.link(vae[0], vae[1], decode, "vae")
    g.link(decode, 0, save, "images")


def sd15_encoders(g) -> tuple[dict, dict]:
    clip = g.node("CLIPLoader", [SD15_TEXT_ENCODER, "stable_diffusion", "default"], [("CLIP", "CLIP")],
                  pos=(0, 300), title="SD1.5 text encoder (CLIP ViT-L/14)")
    vae = g.node("VAELoader", [SD15_VAE], [("VAE", "VAE")], pos=(0, 450), title="SD1.5 VAE")
    return clip, vae


def reflow_unet_workflow(Graph, family: str, unet: str, steps: int, cfg: float, negative: str, text: str,
                         prefix: str) -> dict:
    g = Graph()
    loader = g.node("RectiFlowLoadInstaFlow", [family, unet, ""], [("MODEL", "MODEL")], pos=(0, 0))
    clip, vae = sd15_encoders(g)
    conds = prompts(g, clip, 0, "A hyper-realistic photo of a cute cat.", negative)
    sample_decode_save(g, (loader, 0), conds, (vae, 0), 512, [2026, "fixed", steps, cfg, "euler", "simple", 1.0],
                       prefix)
    note(g, text)
    return g.to_json()


def instaflow_one_step(Graph) -> dict:
    """InstaFlow-0.9B: one Euler step from sigma 1 to 0 at cfg 1, as the official pipeline."""
    return reflow_unet_workflow(Graph, "instaflow", INSTAFLOW_UNET, 1, 1.0, "", INSTAFLOW_NOTE, "rectiflow_instaflow")


def two_rectified_flow_few_steps(Graph) -> dict:
    """2-Rectified Flow: 4 Euler steps at cfg 1.5 with a negative prompt (official advice: 2-8 steps, cfg 1-2)."""
    return reflow_unet_workflow(Graph, "2-rectified-flow", "[diffusers] 2_rectified_flow_from_sd_1_5/unet", 4, 1.5,
                                "painting, unreal, twisted", TWO_RF_NOTE, "rectiflow_2rf")


def rf_conversion_noobai(Graph) -> dict:
    """NoobAI-RF: Load Checkpoint -> RF conversion preset -> KSampler euler, 24 steps, cfg 4.5."""
    g = Graph()
    ckpt = g.node("CheckpointLoaderSimple", ["NoobAI-RF.safetensors"],
                  [("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")], pos=(0, 0))
    preset = g.node("RectiFlowRFConversion", ["noobai-rf", 3.0], [("MODEL", "MODEL")], [("model", "MODEL")],
                    pos=(360, 600))
    g.link(ckpt, 0, preset, "model")
    conds = prompts(g, ckpt, 1, "masterpiece, best quality, aesthetic, 1girl, night city, rain",
                    "worst quality, normal quality, bad anatomy, low resolution")
    sample_decode_save(g, (preset, 0), conds, (ckpt, 2), 1024, [2026, "fixed", 24, 4.5, "euler", "simple", 1.0],
                       "rectiflow_noobai_rf")
    note(g, NOOBAI_NOTE)
    return g.to_json()


def instaflow_delta_merge(Graph) -> dict:
    """InstaFlow + dreamshaper-7's weight delta (W + dW), one step, as InstaFlow's demo."""
    g = Graph()
    loader = g.node("RectiFlowLoadInstaFlow", ["instaflow", INSTAFLOW_UNET, ""], [("MODEL", "MODEL")], pos=(0, 0))
    merge = g.node("RectiFlowMergeDelta", ["dreamshaper-7_dW.safetensors", "", 1.0], [("MODEL", "MODEL")],
                   [("model", "MODEL")], pos=(360, 600))
    g.link(loader, 0, merge, "model")
    clip, vae = sd15_encoders(g)
    conds = prompts(g, clip, 0, "A hyper-realistic photo of a cute cat.", "")
    sample_decode_save(g, (merge, 0), conds, (vae, 0), 512, [2026, "fixed", 1, 1.0, "euler", "simple", 1.0],
                       "rectiflow_instaflow_dreamshaper")
    note(g, DELTA_NOTE)
    return g.to_json()


REFLOW_WORKFLOWS = {"instaflow_one_step.json": instaflow_one_step,
                    "two_rectified_flow_few_steps.json": two_rectified_flow_few_steps,
                    "rf_conversion_noobai.json": rf_conversion_noobai,
                    "instaflow_delta_merge.json": instaflow_delta_merge}
