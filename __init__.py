"""RectiFlow: rectified-flow samplers, schedules, guidance, reflow-distilled checkpoint loaders and editing for ComfyUI.

ComfyUI loads this package from custom_nodes/ and calls `comfy_entrypoint()`. The node adapters are
imported lazily so that `samplers/` and `models/` stay importable without ComfyUI.
"""

__version__ = "0.1.0"


async def comfy_entrypoint():
    from .nodes import RectiFlowExtension

    return RectiFlowExtension()
