"""Editing operators for flow models (pure torch, never imports comfy).

Every operator takes velocity callables `v(x, sigma) -> dx/dsigma` (ComfyUI's CONST convention, sigma = 1 noise,
sigma = 0 data; docs/design.md "Time convention"), so it runs on any flow model and any guidance law.
"""
from .flowchef import FLOWCHEF_TASKS, check_flowchef_options, flowchef, measurement_operator
from .flowedit import check_flowedit_options, flow_edit, flowedit_delta
from .flowopt import check_flowopt_options, flow_opt
from .masks import mask_to_latent
from .rf_inversion import check_rf_inversion_options, controlled_inversion, controlled_regeneration, rf_inversion
from .uniedit import check_uniedit_options, uni_inversion, uniedit
from .dnaedit import check_dnaedit_options, dnaedit, noise_alignment
from .solver_edit import check_solver_edit_options, solver_edit, solver_inversion, solver_regeneration

__all__ = ["check_flowedit_options", "flow_edit", "flowedit_delta", "check_rf_inversion_options",
           "controlled_inversion", "controlled_regeneration", "rf_inversion",
           "check_uniedit_options", "uni_inversion", "uniedit", "check_dnaedit_options", "dnaedit", "noise_alignment",
           "FLOWCHEF_TASKS", "check_flowchef_options", "flowchef", "measurement_operator",
           "check_flowopt_options", "flow_opt", "mask_to_latent",
           "check_solver_edit_options", "solver_edit", "solver_inversion", "solver_regeneration"]
