"""Development helpers shared by the tests and the benchmarks (never imported by the pack at run time).

`comfy_host` boots the real ComfyUI in process; `comfy_models` builds ComfyUI MODELs and graph inputs from the
analytic flows (models/analytic_flows.py) and the embedded digits model through the real nodes.
"""
