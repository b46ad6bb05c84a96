"""ComfyUI V3 adapters. Importing this package imports comfy; `samplers/` never does."""
from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from .digits import DIGITS_NODES
from .editing import EDITING_NODES
from .editing_guiders import EDITING_GUIDER_NODES
from .editing_solver import SOLVER_EDIT_NODES
from .editing_steer import STEER_NODES
from .editing_uniedit import UNIEDIT_DNAEDIT_NODES
from .guidance import GUIDANCE_NODES
from .inversion import INVERSION_NODES
from .learned import LEARNED_NODES
from .prompt_links import register_link_check
from .reflow_conversion import CONVERSION_NODES
from .reflow_delta import DELTA_NODES
from .reflow_families import FAMILY_NODES
from .reflow_loaders import LOADER_NODES
from .reflow_schedules import REFLOW_SCHEDULE_NODES
from .samplers import SAMPLER_NODES
from .schedules import SCHEDULE_NODES
from .trajectory import TRAJECTORY_NODES

ALL_NODES: list[type[io.ComfyNode]] = [*DIGITS_NODES, *SAMPLER_NODES, *SCHEDULE_NODES, *INVERSION_NODES, *LEARNED_NODES,
                                       *TRAJECTORY_NODES, *GUIDANCE_NODES, *LOADER_NODES, *CONVERSION_NODES,
                                       *DELTA_NODES, *FAMILY_NODES, *REFLOW_SCHEDULE_NODES, *EDITING_NODES,
                                       *UNIEDIT_DNAEDIT_NODES, *STEER_NODES,
                                       *SOLVER_EDIT_NODES, *EDITING_GUIDER_NODES]


class RectiFlowExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        register_link_check()      # here, not in on_load: ComfyUI 0.3.75 never calls on_load
        return list(ALL_NODES)
