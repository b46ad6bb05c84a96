"""Every ComfyUI symbol RectiFlow uses, one row each: where, how it is called, what we override or read.

To add a dependency on ComfyUI: add a row here (test_comfy_surface.py fails until you do). Paths start at a
top-level ComfyUI module (`comfy`, `comfy_api`, `comfy_extras`, `latent_preview`, `nodes`, ...). Kinds:
  module, class, function, attribute (module/class attribute, enum member, class-level default)
  method             looked up on the class; `calls` leave out self/cls; `implements` is our override's signature
  instance_attribute assigned as self.<name> somewhere in the class or its bases (checked in the source)
  keys               names the pack relies on: each must occur in the function's source as a string or attribute
                     (for a dict: each must be one of its keys)
  reads              `var` in the function: every attribute / string key ComfyUI reads from it must be in `names`
  calls_us           the function calls `var` (our callable): every such call must bind to `implements`
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Call:
    positional: int = 0
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class Symbol:
    path: str
    kind: str
    where: str = ""
    calls: tuple[Call, ...] = ()
    implements: str | None = None
    names: tuple[str, ...] = ()
    var: str = ""


def C(positional: int = 0, *keywords: str) -> Call:
    return Call(positional, tuple(keywords))


_MODULES = ["comfy.latent_formats", "comfy.model_base", "comfy.model_management", "comfy.model_patcher",
            "comfy.model_sampling", "comfy.patcher_extension", "comfy.sample", "comfy.samplers",
            "comfy.supported_models_base", "comfy.utils", "comfy_api.latest", "comfy_extras.nodes_custom_sampler",
            "latent_preview", "nodes", "comfy", "folder_paths", "comfy.supported_models",
            "comfy.ldm.modules.diffusionmodules.openaimodel"]
_IO_TYPES = {"Boolean": "I", "Combo": "I", "Conditioning": "IO", "Float": "I", "Guider": "IO", "Image": "O",
             "Int": "IO", "Latent": "IO", "Model": "IO", "Noise": "IO", "Sampler": "IO", "Sigmas": "IO", "String": "IO"}

CFG_ARGS = ("cond", "uncond", "cond_scale", "input", "sigma", "cond_denoised", "uncond_denoised", "model_options",
            "input_uncond")
POST_CFG_ARGS = ("denoised", "cond_denoised", "uncond_denoised", "uncond", "sigma", "input", "model_options")
CALLBACK_KEYS = ("x", "i", "sigma", "sigma_hat", "denoised")   # what samplers/ hands a KSAMPLER callback

# editing_values.py: RF-Solver-Edit's value sharing through per-run patches_replace["dit"] + attention override
_FLUX, _MMDIT = "comfy.ldm.flux.model.Flux", "comfy.ldm.modules.diffusionmodules.mmdit.MMDiT"
SOLVER_EDIT_SURFACE: list[Symbol] = [
    *(Symbol(m, "module", "editing_values.py imports") for m in ("comfy.ldm.flux.model",
                                                                  "comfy.ldm.modules.diffusionmodules.mmdit")),
    Symbol(_FLUX, "class", "editing_values.py shared_blocks (isinstance)"),
    Symbol(f"{_FLUX}.double_blocks", "instance_attribute", "editing_values.py shared_blocks"),
    Symbol(f"{_FLUX}.single_blocks", "instance_attribute", "editing_values.py shared_blocks"),
    Symbol(_MMDIT, "class", "editing_values.py shared_blocks (isinstance)"),
    Symbol(f"{_MMDIT}.joint_blocks", "instance_attribute", "editing_values.py shared_blocks"),
    Symbol(f"{_FLUX}.forward_orig", "keys", "editing_values.py ValueBank.block_patch",
           names=("patches_replace", "dit", "double_block", "single_block", "original_block")),
    *(Symbol(f"{_FLUX}.forward_orig", "calls_us", "editing_values.py ValueBank.block_patch",
             var=f"blocks_replace['{kind}', i]", implements="(args, extra)")
      for kind in ("double_block", "single_block")),
    Symbol(f"{_MMDIT}.forward_core_with_concat", "keys", "editing_values.py ValueBank.block_patch",
           names=("patches_replace", "dit", "double_block", "original_block")),
    Symbol(f"{_MMDIT}.forward_core_with_concat", "calls_us", "editing_values.py ValueBank.block_patch",
           var="blocks_replace['double_block', i]", implements="(args, extra)"),
    Symbol("comfy.ldm.modules.attention.wrap_attn", "keys", "editing_values.py ValueBank.attention_override "
           "(called as override(func, q, k, v, heads, ...))",
           names=("optimized_attention_override", "transformer_options")),
    # every attention call of the shared blocks hands transformer_options on (wrap_attn then calls our override)
    *(Symbol(path, "calls_us", "editing_values.py ValueBank.attention_override reads kwargs['transformer_options']",
             var="optimized_attention", implements="(q, k, v, heads, *, transformer_options, **kwargs)")
      for path in ("comfy.ldm.flux.math.attention", "comfy.ldm.modules.diffusionmodules.mmdit._block_mixing")),
    Symbol("comfy.samplers._calc_cond_batch", "keys", "editing_values.py ValueBank.share: V per cond/uncond chunk",
           names=("transformer_options", "cond_or_uncond")),
]

SURFACE: list[Symbol] = [
    *(Symbol(m, "module", "imports") for m in _MODULES),
    # ---- host entry point (ComfyUI calls us)
    Symbol("nodes.load_custom_node", "keys", "__init__.py comfy_entrypoint()", names=("comfy_entrypoint",)),
    # testing/comfy_host.py boots ComfyUI in process as its main.py does
    Symbol("comfy.cli_args.args", "attribute", "testing/comfy_host.py boot_comfyui"),
    Symbol("comfy.cli_args.args.cpu", "attribute", "testing/comfy_host.py boot_comfyui"),
    Symbol("comfy.cli_args.args.disable_all_custom_nodes", "attribute", "testing/comfy_host.py boot_comfyui"),
    Symbol("nodes.NODE_CLASS_MAPPINGS", "attribute", "testing/comfy_host.py run_node"),
    Symbol("nodes.init_extra_nodes", "function", "testing/comfy_host.py boot_comfyui",
           calls=(C(0, "init_custom_nodes", "init_api_nodes"),)),
    # ---- V3 node API (io.*: call shapes are checked from the source by the scan test)
    Symbol("comfy_api.latest.ComfyExtension", "class", "nodes/__init__.py (subclassed)"),
    Symbol("comfy_api.latest.ComfyExtension.get_node_list", "method", "nodes/__init__.py",
           implements="(self)"),
    Symbol("comfy_api.latest.io", "attribute", "every node module"),
    Symbol("comfy_api.latest.io.ComfyNode", "class", "every node (subclassed)"),
    Symbol("comfy_api.latest.io.ComfyNode.define_schema", "method", "every node", implements="(cls)"),
    Symbol("comfy_api.latest.io.ComfyNode.validate_inputs", "method", "validation.py RectiFlowNode (every node)",
           implements="(cls, **inputs)"),
    Symbol("comfy_api.latest.io.ComfyNode.INPUT_TYPES", "method", "validation.py RectiFlowNode.validate_inputs",
           calls=(C(0),)),
    Symbol("comfy_api.latest.io.ComfyNode.execute", "method", "every node (signature per node)"),
    Symbol("comfy_api.latest.io.Schema", "class", "every node",
           calls=(C(0, "node_id", "display_name", "category", "description", "inputs", "outputs"),)),
    Symbol("comfy_api.latest.io.NodeOutput", "class", "every node", calls=(C(1), C(2), C(3, "ui"))),
    Symbol("comfy_api.latest.io.Custom", "function", "trajectory.py RECTIFLOW_TRAJECTORY socket", calls=(C(1),)),
    Symbol("comfy_api.latest.io.NodeOutput.args", "instance_attribute", "guidance.py GuidanceInspector"),
    *(Symbol(f"comfy_api.latest.io.{t}.{side}", "class", "node schemas")
      for t, sides in _IO_TYPES.items() for side in (["Input"] if "I" in sides else []) + (["Output"] if "O" in sides else [])),
    *(Symbol(f"comfy_api.latest.io.{t}", "class", "node schemas") for t in _IO_TYPES),
    # ---- SAMPLER: KSAMPLER(fn, extra_options) and the sampler-function protocol
    Symbol("comfy.samplers.KSAMPLER", "class", "samplers.py rectiflow_ksampler; solvers.py reference_for",
           calls=(C(1, "extra_options"), C(1))),
    Symbol("comfy.samplers.KSAMPLER.sample", "calls_us", "samplers.py with_interrupts: the solver function",
           var="self.sampler_function", implements="(model, x, sigmas, extra_args=None, callback=None, disable=None, **options)"),
    Symbol("comfy.samplers.KSAMPLER.sample", "reads", "samplers/solvers.py _report: the callback dict",
           var="x", names=CALLBACK_KEYS),
    # FlowKSampler (samplers.py): a KSAMPLER whose increasing-sigma runs skip CONST's inverse_noise_scaling
    Symbol("comfy.samplers.KSAMPLER.sample", "method", "samplers.py FlowKSampler (super() for decreasing sigmas)",
           calls=(C(8),), implements="(self, model_wrap, sigmas, extra_args, callback, noise, latent_image=None, "
                                     "denoise_mask=None, disable_pbar=False)"),
    Symbol("comfy.samplers.KSAMPLER.sampler_function", "instance_attribute", "samplers.py FlowKSampler; "
           "is_rectiflow_sampler reads its marker"),
    Symbol("comfy.samplers.KSAMPLER.extra_options", "instance_attribute", "samplers.py FlowKSampler"),
    Symbol("comfy.samplers.KSAMPLER.max_denoise", "method", "samplers.py FlowKSampler", calls=(C(2),)),
    Symbol("comfy.samplers.KSamplerX0Inpaint", "class", "samplers.py FlowKSampler, as KSAMPLER.sample builds it",
           calls=(C(2),)),
    Symbol("comfy.samplers.KSAMPLER.sample", "keys", "samplers.py FlowKSampler sets what KSAMPLER.sample sets on "
           "its KSamplerX0Inpaint", names=("latent_image", "noise", "denoise_mask", "noise_scaling")),
    Symbol("comfy.samplers.calculate_sigmas", "function", "solvers.py reference_for", calls=(C(3),)),
    Symbol("comfy.samplers.SCHEDULER_HANDLERS", "keys", "solvers.py reference_for (a dict: its keys)",
           names=("simple",)),
    # ---- GUIDER: CFGGuider subclasses (LawGuider, StepGuider) and guiders we are handed
    Symbol("comfy.samplers.CFGGuider", "class", "guidance_core.py LawGuider/StepGuider", calls=(C(1),)),
    Symbol("comfy.samplers.CFGGuider.__init__", "method", "guidance_core.py super().__init__", calls=(C(1),)),
    Symbol("comfy.samplers.CFGGuider.set_cfg", "method", "guidance_core.py", calls=(C(1),)),
    Symbol("comfy.samplers.CFGGuider.set_conds", "method", "guidance_core.py law_guider/step_guider",
           calls=(C(2),)),
    Symbol("comfy.samplers.CFGGuider.outer_sample", "method", "guidance_core.py LawGuider (resets per-run state)",
           implements="(self, *args, **kwargs)"),
    Symbol("comfy.samplers.CFGGuider.predict_noise", "method", "guidance_core.py LawGuider/StepGuider",
           calls=(C(4),), implements="(self, x, timestep, model_options={}, seed=None)"),
    Symbol("comfy.samplers.CFGGuider.sample", "method", "solvers.py InvertLatent/reference_for; inspector",
           calls=(C(4, "denoise_mask", "callback", "disable_pbar", "seed"), C(4, "seed", "disable_pbar"))),
    Symbol("comfy.samplers.CFGGuider.model_patcher", "instance_attribute", "solvers.py (read, set on a copy)"),
    Symbol("comfy.samplers.CFGGuider.model_options", "instance_attribute", "solvers.py; guidance_inspector.py"),
    Symbol("comfy.samplers.CFGGuider.original_conds", "instance_attribute", "solvers.py trajectory_key"),
    Symbol("comfy.samplers.CFGGuider.conds", "instance_attribute", "guidance_core.py predict_noise"),
    Symbol("comfy.samplers.CFGGuider.inner_model", "instance_attribute", "guidance_core.py predict_noise"),
    Symbol("comfy.samplers.CFGGuider.cfg", "instance_attribute", "guidance_core.py predict_noise"),
    Symbol("comfy.samplers.CFGGuider.inner_sample", "keys", "guidance_core.py: the run's schedule",
           names=("transformer_options", "sample_sigmas")),
    Symbol("comfy.samplers.sampling_function", "function", "guidance_core.py LawGuider.predict_noise",
           calls=(C(6, "model_options", "seed"),)),
    Symbol("comfy.samplers.sampling_function", "keys", "guidance_core.py: options we set",
           names=("disable_cfg1_optimization",)),
    Symbol("comfy.samplers.calc_cond_batch", "function", "guidance_core.py StepGuider.velocity_fns",
           calls=(C(5),)),
    # editing.py: EditGuider (a CFGGuider with a second positive, "source") and EditKSampler
    Symbol("comfy.samplers.CFGGuider.inner_set_conds", "method", "editing.py EditGuider.set_edit_conds",
           calls=(C(1),)),
    # editing_guiders.py: GuidersEditGuider runs each branch guider's own sample() around the real SAMPLER
    Symbol("comfy.samplers.CFGGuider.sample", "method", "editing_guiders.py GuidersEditGuider (nests the branches)",
           calls=(C(8),), implements="(self, noise, latent_image, sampler, sigmas, denoise_mask=None, callback=None, "
                                     "disable_pbar=False, seed=None)"),
    Symbol("comfy.samplers.CFGGuider.outer_predict_noise", "method", "editing_guiders.py GuidersEditGuider",
           implements="(self, x, timestep, model_options={}, seed=None)"),
    Symbol("comfy.samplers.CFGGuider.__call__", "method", "editing_guiders.py: a prepared branch guider",
           calls=(C(2, "model_options", "seed"),)),
    Symbol("comfy.samplers.CFGGuider.inner_sample", "keys", "editing_guiders.py CapturingSampler: inner_sample "
           "hands sampler.sample the prepared guider and its extra_args", names=("sample", "model_options", "seed")),
    Symbol("comfy.model_patcher.ModelPatcher.is_clone", "method", "editing_guiders.py same_sampled_model",
           calls=(C(1),)),
    Symbol("comfy.model_patcher.ModelPatcher.patches", "instance_attribute", "editing_guiders.py same_sampled_model"),
    Symbol("comfy.model_patcher.ModelPatcher.hook_patches", "instance_attribute",
           "editing_guiders.py same_sampled_model"),
    Symbol("comfy.model_patcher.ModelPatcher.object_patches", "instance_attribute",
           "editing_guiders.py same_sampled_model"),
    Symbol("comfy.samplers.cfg_function", "keys", "guidance_core.py make_cfg_function: sampler_cfg_function args",
           names=("sampler_cfg_function", *CFG_ARGS)),
    Symbol("comfy.samplers.cfg_function", "keys", "guidance_inspector.py GuidanceRecorder.post_cfg args",
           names=("sampler_post_cfg_function", *POST_CFG_ARGS)),
    # ---- MODEL: ModelPatcher hooks and construction
    Symbol("comfy.model_patcher.ModelPatcher", "class", "flow_models.py flow_model_patcher",
           calls=(C(1, "load_device", "offload_device"),)),
    Symbol("comfy.model_patcher.ModelPatcher.clone", "method", "guidance_core.py patch_model; solvers.py",
           calls=(C(0),)),
    Symbol("comfy.model_patcher.ModelPatcher.set_model_sampler_cfg_function", "method", "guidance_core.py",
           calls=(C(1, "disable_cfg1_optimization"),)),
    Symbol("comfy.model_patcher.ModelPatcher.add_wrapper_with_key", "method", "guidance_core.py patch_model",
           calls=(C(3),)),
    Symbol("comfy.model_patcher.ModelPatcher.add_object_patch", "method", "solvers.py model_without_inverse_scaling",
           calls=(C(2),)),
    Symbol("comfy.model_patcher.ModelPatcher.get_model_object", "method", "flow_models.py; solvers.py",
           calls=(C(1),)),
    Symbol("comfy.model_patcher.ModelPatcher.model_options", "instance_attribute", "guidance_core.py patch_model"),
    Symbol("comfy.model_patcher.ModelPatcher.model", "instance_attribute", "digits.py; solvers.py trajectory_key"),
    Symbol("comfy.model_patcher.ModelPatcher.patches_uuid", "instance_attribute", "solvers.py trajectory_key"),
    Symbol("comfy.model_patcher.create_model_options_clone", "function", "guidance_inspector.py", calls=(C(1),)),
    Symbol("comfy.model_patcher.set_model_options_post_cfg_function", "function", "guidance_inspector.py",
           calls=(C(2),)),
    Symbol("comfy.patcher_extension.WrappersMP.OUTER_SAMPLE", "attribute", "guidance_core.py patch_model"),
    Symbol("comfy.patcher_extension.WrapperExecutor.class_obj", "instance_attribute", "guidance_core.py start_run"),
    Symbol("comfy.patcher_extension.WrapperExecutor.__call__", "method", "guidance_core.py start_run",
           calls=(C(0),)),
    # ---- model sampling (CONST flow convention)
    Symbol("comfy.model_sampling.CONST", "class", "flow_models.py is_flow_model; comfy_compat.py"),
    Symbol("comfy.model_sampling.CONST.calculate_denoised", "method", "comfy_compat.py is_velocity_flow"),
    Symbol("comfy.model_sampling.CONST.noise_scaling", "method", "solvers.py InvertedNoise; comfy_compat.py inverts it"),
    Symbol("comfy.model_sampling.CONST.inverse_noise_scaling", "method", "solvers.py replaces it on a copy",
           implements="(self, sigma, latent)"),
    Symbol("comfy.samplers.KSAMPLER.sample", "keys", "solvers.py InvertLatent: a run starts with noise_scaling and "
           "ends with inverse_noise_scaling", names=("noise_scaling", "inverse_noise_scaling")),
    # ---- reflow-distilled SD samplings (reflow_sampling.py, reflow_schedules.py)
    Symbol("comfy.model_sampling.ModelSamplingDiscreteFlow", "class", "reflow_sampling.py PeRFlowSampling base"),
    Symbol("comfy.model_sampling.ModelSamplingDiscreteFlow.__init__", "method", "reflow_sampling.py PeRFlowSampling",
           calls=(C(1),), implements="(self, model_config=None, prediction='diff_eps', num_windows=4)"),
    Symbol("comfy.model_sampling.ModelSamplingDiscrete", "class",
           "reflow_sampling.py DiffusersEpsSampling base; reflow_schedules.py reads its sigma table"),
    Symbol("comfy.model_sampling.ModelSamplingDiscrete.__init__", "method", "reflow_sampling.py DiffusersEpsSampling",
           calls=(C(1),), implements="(self, model_config=None, zsnr=None, beta_schedule='linear')"),
    Symbol("comfy.model_sampling.ModelSamplingDiscrete._register_schedule", "method",
           "reflow_sampling.py DiffusersEpsSampling: diffusers' betas", calls=(C(0, "given_betas", "beta_schedule",
                                                                               "timesteps", "linear_start", "linear_end", "zsnr"),)),
    Symbol("comfy.model_sampling.ModelSamplingDiscrete.set_sigmas", "keys", "reflow_schedules.py reads .sigmas",
           names=("sigmas",)),
    Symbol("comfy.model_sampling.ModelSamplingDiscrete.zsnr", "instance_attribute", "reflow_sampling.py"),
    Symbol("comfy.model_sampling.EPS", "class", "reflow_sampling.py DiffusersEpsSampling mixin"),
    Symbol("comfy.model_sampling.EPS.inverse_noise_scaling", "method", "reflow_sampling.py: VP-scaled end",
           implements="(self, sigma, latent)"),
    Symbol("comfy.model_sampling.reshape_sigma", "function", "reflow_sampling.py", calls=(C(2),)),
    # ---- flow model construction (digits model)
    Symbol("comfy.model_base.BaseModel", "class", "flow_models.py", calls=(C(1, "model_type", "device", "unet_model"),)),
    Symbol("comfy.model_base.BaseModel.diffusion_model", "instance_attribute", "digits.py load_digits_model"),
    Symbol("comfy.model_base.BaseModel.model_sampling", "instance_attribute",
           "get_model_object('model_sampling'): flow_models.py, solvers.py"),
    Symbol("comfy.model_base.BaseModel.process_latent_in", "method",
           "get_model_object('process_latent_in'): solvers.py InvertedNoise", calls=(C(1),)),
    Symbol("comfy.model_base.ModelType.FLOW", "attribute", "flow_models.py"),
    Symbol("comfy.supported_models_base.BASE", "class", "flow_models.py FlowModelConfig", calls=(C(1),)),
    Symbol("comfy.supported_models_base.BASE.set_inference_dtype", "method", "flow_models.py", calls=(C(2),)),
    *(Symbol(f"comfy.supported_models_base.BASE.{a}", "attribute", "flow_models.py FlowModelConfig")
      for a in ("unet_extra_config", "sampling_settings", "supported_inference_dtypes", "latent_format",
                "memory_usage_factor")),
    Symbol("comfy.model_sampling.ModelSamplingDiscreteFlow.__init__", "keys", "flow_models.py sampling_settings",
           names=("shift", "multiplier")),
    Symbol("comfy.latent_formats.LatentFormat", "class", "flow_models.py plain_latent_format (type() subclass)"),
    *(Symbol(f"comfy.latent_formats.LatentFormat.{a}", "attribute", "flow_models.py plain_latent_format")
      for a in ("latent_channels", "scale_factor", "latent_rgb_factors")),
    # ---- runtime services
    Symbol("comfy.model_management.throw_exception_if_processing_interrupted", "function", "samplers.py; solvers.py",
           calls=(C(0),)),
    Symbol("comfy.model_management.intermediate_device", "function", "digits.py; solvers.py", calls=(C(0),)),
    Symbol("folder_paths.add_model_folder_path", "function", "digits.py register_model_folder", calls=(C(2),)),
    Symbol("folder_paths.models_dir", "attribute", "digits.py register_model_folder"),
    Symbol("folder_paths.get_filename_list", "function", "digits.py available_checkpoints", calls=(C(1),)),
    Symbol("folder_paths.get_full_path_or_raise", "function", "digits.py checkpoint_path", calls=(C(2),)),
    Symbol("comfy.model_management.unet_offload_device", "function", "flow_models.py", calls=(C(0),)),
    Symbol("comfy.model_management.get_torch_device", "function", "flow_models.py", calls=(C(0),)),
    Symbol("comfy.utils.ProgressBar", "class", "solvers.py reference_for", calls=(C(1),)),
    Symbol("comfy.utils.ProgressBar.update_absolute", "method", "solvers.py reference_for", calls=(C(2),)),
    Symbol("comfy.utils.PROGRESS_BAR_ENABLED", "attribute", "solvers.py InvertLatent"),
    Symbol("comfy.sample.fix_empty_latent_channels", "function", "solvers.py; comfy_compat.py fix_empty_latent",
           calls=(C(2),)),
    Symbol("comfy.sample.prepare_noise", "function", "solvers.py reference_for", calls=(C(3),)),
    Symbol("latent_preview.prepare_callback", "function", "solvers.py InvertLatent", calls=(C(2),)),
    Symbol("comfy_extras.nodes_custom_sampler.SamplerCustomAdvanced", "class", "guidance.py GuidanceInspector"),
    Symbol("comfy_extras.nodes_custom_sampler.SamplerCustomAdvanced.execute", "method", "guidance.py",
           calls=(C(5),)),
    Symbol("comfy_extras.nodes_custom_sampler.SamplerCustomAdvanced.execute", "reads",
           "solvers.py InvertedNoise: the NOISE protocol", var="noise", names=("generate_noise", "seed")),
    # ---- reflow UNet loaders (reflow_unet.py): ComfyUI's own UNet, model classes, configs and key map
    Symbol("comfy.ldm.modules.diffusionmodules.openaimodel.UNetModel", "class", "reflow_unet.py NegatedUNetModel"),
    Symbol("comfy.ldm.modules.diffusionmodules.openaimodel.UNetModel.forward", "method",
           "reflow_unet.py NegatedUNetModel (negates super().forward)", implements="(self, *args, **kwargs)"),
    Symbol("comfy.model_base.BaseModel.__init__", "method", "reflow_unet.py NegatedOutputModel (cooperative base)",
           calls=(C(2, "device", "unet_model"),),
           implements="(self, model_config, model_type=None, device=None, unet_model=None)"),
    Symbol("comfy.model_base.SDXL", "class", "reflow_unet.py MODEL_CLASSES, NegatedOutputSDXL",
           calls=(C(1, "model_type", "device"),)),
    Symbol("comfy.model_base.ModelType", "class", "reflow_unet.py model_type_of"),
    Symbol("comfy.model_base.ModelType.EPS", "attribute", "reflow_unet.py"),
    Symbol("comfy.model_base.ModelType.V_PREDICTION", "attribute", "reflow_unet.py model_type_of"),
    Symbol("comfy.model_base.model_sampling", "function", "reflow_unet.py flow_model_sampling", calls=(C(2),)),
    Symbol("comfy.model_sampling.V_PREDICTION", "class", "reflow_unet.py model_type_of"),
    Symbol("comfy.supported_models.SD15", "class", "reflow_unet.py ReflowSD15 (subclassed)", calls=(C(1),)),
    Symbol("comfy.supported_models.SDXL", "class", "reflow_unet.py ReflowSDXL (subclassed)", calls=(C(1),)),
    Symbol("comfy.supported_models.SD15.unet_extra_config", "attribute", "reflow_unet.py ReflowSD15"),
    Symbol("comfy.supported_models.SDXL.unet_extra_config", "attribute", "reflow_unet.py ReflowSDXL"),
    Symbol("comfy.supported_models_base.BASE.unet_config", "instance_attribute", "reflow_delta.py base layout"),
    Symbol("comfy.model_management.unet_dtype", "function", "reflow_unet.py model_config_for",
           calls=(C(0, "model_params", "supported_dtypes", "weight_dtype"),)),
    Symbol("comfy.model_management.unet_manual_cast", "function", "reflow_unet.py model_config_for", calls=(C(3),)),
    Symbol("comfy.utils.unet_to_diffusers", "function", "reflow_unet.py, reflow_unet_read.py", calls=(C(1),)),
    Symbol("comfy.utils.calculate_parameters", "function", "reflow_unet.py model_config_for", calls=(C(1),)),
    Symbol("comfy.utils.weight_dtype", "function", "reflow_unet.py model_config_for", calls=(C(1),)),
    Symbol("folder_paths.get_folder_paths", "function", "reflow_files.py unet_choices", calls=(C(1),)),
    Symbol("folder_paths.get_full_path", "function", "reflow_files.py unet_choices", calls=(C(2),)),
    Symbol("comfy.model_patcher.ModelPatcher.add_patches", "method", "reflow_delta.py merge_delta ('diff' patches)",
           calls=(C(1, "strength_patch", "strength_model"),)),
    Symbol("comfy.model_base.BaseModel.model_config", "instance_attribute", "reflow_conversion.py; reflow_delta.py"),
    Symbol("comfy.model_sampling.ModelSamplingDiscreteFlow.set_parameters", "method",
           "reflow_conversion.py rf_conversion (as ModelSamplingSD3)", calls=(C(0, "shift", "multiplier"),)),
    Symbol("comfy.model_sampling.ModelSamplingDiscreteFlow.shift", "instance_attribute",
           "test_reflow_nodes.py reads it (reflow_conversion.py RFConversion.shift is our own field)"),
    # ---- progress text on a running node (progress_text.py; trajectory nodes say their cost up front)
    Symbol("comfy_api.latest.io.Hidden.unique_id", "attribute", "trajectory.py schemas (hidden=[...])"),
    Symbol("comfy_api.latest.io.ComfyNode.hidden", "attribute", "progress_text.py show_progress_text (cls.hidden.unique_id)"),
    Symbol("server.PromptServer.__init__", "keys", "progress_text.py, prompt_links.py read PromptServer.instance "
           "and its on_prompt_handlers (set here)", names=("instance", "on_prompt_handlers")),
    Symbol("server.PromptServer.add_on_prompt_handler", "method", "prompt_links.py register_link_check",
           calls=(C(1),)),
    Symbol("server.PromptServer.trigger_on_prompt", "calls_us", "prompt_links.py mark_bad_links (before validation)",
           var="handler", implements="(json_data)"),
    Symbol("server.PromptServer.send_progress_text", "method", "progress_text.py show_progress_text", calls=(C(2),)),
    # ---- editing masks (editing_steer.py FlowChef): an optional ComfyUI MASK input
    Symbol("comfy_api.latest.io.Mask", "class", "editing_steer.py SamplerFlowChef"),
    Symbol("comfy_api.latest.io.Mask.Input", "class", "editing_steer.py SamplerFlowChef (optional=True)"),
    *SOLVER_EDIT_SURFACE,
]
