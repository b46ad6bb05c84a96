"""RectiFlow Learn Solver: fits a few-step solver (coefficients and time steps) to one guided model and hands it to
ComfyUI as a SAMPLER plus its SIGMAS (BNS arXiv 2403.01329, Bespoke Solvers arXiv 2310.19075, LD3 arXiv
2405.15506; the maths is in samplers/learned)."""
from __future__ import annotations

import hashlib
from collections import OrderedDict

import torch
from comfy_api.latest import io

import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.utils

from ..samplers.learned import LearnReport, learn_solver, sample_learned
from .comfy_compat import const_noise_scale, fix_empty_latent
from .inversion import check_flow_model
from .plots import line_chart, to_image_tensor
from .samplers import rectiflow_ksampler
from .validation import RectiFlowNode

CATEGORY = "sampling/rectiflow/samplers"
CACHE_SIZE = 16
_CACHE: OrderedDict[str, LearnReport] = OrderedDict()  # fingerprint of (model, conditioning, latent, budget) -> fit
SKIPPED_GUIDER_FIELDS = {"model_patcher", "model_options", "inner_model", "conds", "loaded_models"}
LIMITS = {"nfe": (1, 64), "iterations": (1, 5000), "train_batches": (1, 64), "reference_steps": (8, 1000)}


def fingerprint(value, digest) -> None:
    """Feed a stable description of `value` into `digest`: tensors by content, containers by their items, other
    objects by type and identity (a new function or model object gives a new key)."""
    if isinstance(value, torch.Tensor):
        digest.update(f"T{tuple(value.shape)}{value.dtype}".encode())
        digest.update(value.detach().float().cpu().contiguous().numpy().tobytes())
    elif isinstance(value, dict):
        digest.update(b"{")
        for key in sorted(value, key=repr):
            digest.update(repr(key).encode())
            fingerprint(value[key], digest)
        digest.update(b"}")
    elif isinstance(value, (list, tuple)):
        digest.update(b"[")
        for item in value:
            fingerprint(item, digest)
        digest.update(b"]")
    elif value is None or isinstance(value, (bool, int, float, str)):
        digest.update(repr(value).encode())
    else:
        digest.update(f"<{type(value).__qualname__} {id(value)}>".encode())


def cache_key(guider, latent: torch.Tensor, settings: dict) -> str:
    """Model (weights object and patches), guider state and conditioning, latent and fit settings."""
    digest = hashlib.sha256()
    patcher = guider.model_patcher
    fingerprint([type(guider).__qualname__, id(patcher.model), str(getattr(patcher, "patches_uuid", "")),
                 patcher.model_options, {k: v for k, v in vars(guider).items() if k not in SKIPPED_GUIDER_FIELDS},
                 latent, settings], digest)
    return digest.hexdigest()


def check_settings(**values: int) -> None:
    for name, value in values.items():
        lo, hi = LIMITS[name]
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ValueError(f"{name}: expected an integer in [{lo}, {hi}], got {value!r}"[:200])


def check_latent(latent: torch.Tensor) -> None:
    if latent.ndim < 3 or latent.shape[0] < 1 or latent.numel() == 0:
        raise ValueError(f"latent_image: expected a latent batch [batch, channels, ...], got shape {list(latent.shape)}")
    if not torch.isfinite(latent).all():
        raise ValueError("latent_image: contains NaN or infinite values; expected finite numbers")


def run_fit(guider, latent_image: dict, latent: torch.Tensor, noise_seed: int, nfe: int, iterations: int,
            train_batches: int, reference_steps: int) -> LearnReport:
    """Fit inside one guider.sample run, so the model, its patches and the guidance are ComfyUI's own."""
    sampling = guider.model_patcher.get_model_object("model_sampling")
    scale = const_noise_scale(sampling)
    batch_index = latent_image.get("batch_index")
    noises = [comfy.sample.prepare_noise(latent, (noise_seed + k) % 2 ** 64, batch_index)
              for k in range(train_batches + 1)]
    grid = comfy.samplers.calculate_sigmas(sampling, "simple", reference_steps).double()
    grid[0], grid[-1] = 1.0, 0.0
    pbar = comfy.utils.ProgressBar(1)
    reports: list[LearnReport] = []

    def progress(done: int, total: int) -> None:
        comfy.model_management.throw_exception_if_processing_interrupted()
        pbar.update_absolute(done, total)

    def schedule(steps: int) -> torch.Tensor:
        sigmas = comfy.samplers.calculate_sigmas(sampling, "simple", steps).double()
        sigmas[0], sigmas[-1] = 1.0, 0.0
        return sigmas

    def fit(model, x, sigmas, extra_args=None, callback=None, disable=None):
        starts = [scale * n.to(device=x.device, dtype=torch.float32) for n in noises]  # x at sigma 1
        reports.append(learn_solver(model, extra_args, starts[:-1], starts[-1:], nfe, iterations, grid, schedule,
                                    progress))
        return x

    try:
        guider.sample(noises[0], latent, comfy.samplers.KSAMPLER(fit), grid.float(), seed=noise_seed,
                      disable_pbar=True)
    except RuntimeError as e:
        raise ValueError(f"latent_image: the model could not run on a latent of shape {list(latent.shape)} "
                         f"(expected the latent this model generates): {str(e)[:200]}") from e
    return reports[-1]


def describe(report: LearnReport, noise_seed: int, train_batches: int, batch: int, cached: bool) -> str:
    nfe = report.nfe
    fixed = report.curves["best fixed"].get(nfe)
    euler = report.curves["euler"].get(nfe)
    lines = [
        f"learned solver: {nfe} model calls, sigmas {[round(s, 4) for s in report.fit.solver.sigmas.tolist()]}",
        f"training: {report.train_trajectories} trajectories (noise seeds {noise_seed}..{noise_seed + train_batches - 1}"
        f"), RMSE {report.train_rmse:.4g} against the fine RK4 reference (coefficients on the "
        f"'{report.fit.start_schedule}' schedule before the time search: {report.fit.start_rmse:.4g})",
        f"validation: {report.val_trajectories} held-out trajectories (noise seed {noise_seed + train_batches}), "
        f"RMSE {report.val_rmse:.4g}",
    ]
    if fixed is not None and euler is not None:
        lines.append(f"same NFE on validation, 'simple' schedule: Euler {euler:.4g}, best fixed RectiFlow solver "
                     f"({report.best_fixed[nfe]}) {fixed:.4g}; learned / best fixed = {report.val_rmse / fixed:.3g}")
    lines.append(f"cost: references {report.reference_calls} model calls, fit {report.fit_calls} model calls "
                 f"(each a batch of {batch}; {report.fit.evaluations} schedules tried), {report.seconds:.1f} s"
                 + (" (cached result: no new model calls)" if cached else ""))
    lines.append("use the SAMPLER only with these SIGMAS and this model, guidance and latent size")
    return "\n".join(lines)


def error_plot(report: LearnReport) -> torch.Tensor:
    series = {"learned": list(report.curves["learned"].items()),
              "best fixed (simple)": list(report.curves["best fixed"].items()),
              "euler (simple)": list(report.curves["euler"].items())}
    panel = line_chart("validation RMSE vs NFE (held-out noise)", series, "NFE", "RMSE", log_y=True,
                       dashed={"euler (simple)"})
    return to_image_tensor([panel])


class LearnSolver(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowLearnSolver",
            display_name="RectiFlow Learn Solver (BNS / LD3)",
            category=CATEGORY,
            description="Learns a few-step solver for this guided model: the coefficients of a non-stationary "
                        "multistep solver (BNS, arXiv 2403.01329) and its time steps (LD3, arXiv 2405.15506), fitted "
                        "to fine RK4 solves from training noises and checked on held-out noise. Plug SAMPLER and "
                        "SIGMAS into SamplerCustomAdvanced with the same guider. Cached per model, conditioning, "
                        "latent and budget.",
            inputs=[
                io.Guider.Input("guider", tooltip="The guided model to learn a solver for (guidance is baked in)."),
                io.Latent.Input("latent_image", tooltip="Latent of the shape and batch to generate; one training "
                                                        "batch of noise has this shape."),
                io.Int.Input("noise_seed", default=0, min=0, max=0xffffffffffffffff, control_after_generate=False,
                             tooltip="Training noises use seeds noise_seed .. noise_seed + train_batches - 1, the "
                                     "held-out validation noise the next seed; the fit is deterministic for a seed."),
                io.Int.Input("nfe", default=6, min=1, max=64,
                             tooltip="Model calls of the learned solver (= its steps)."),
                io.Int.Input("iterations", default=60, min=1, max=5000,
                             tooltip="Training budget: schedules tried by the time-step search, each refitting the "
                                     "coefficients (nfe model calls per training batch)."),
                io.Int.Input("train_batches", default=4, min=1, max=64,
                             tooltip="Training budget: noise batches of the latent's shape (training trajectories "
                                     "= train_batches x batch)."),
                io.Int.Input("reference_steps", default=48, min=8, max=1000,
                             tooltip="RK4 steps of the fine reference solves (4 model calls each, per batch)."),
            ],
            outputs=[
                io.Sampler.Output(display_name="sampler", tooltip="The learned solver; runs only on `sigmas`."),
                io.Sigmas.Output(display_name="sigmas", tooltip="The learned time steps, nfe + 1 sigmas from 1 to 0."),
                io.String.Output(display_name="report", tooltip="Training and validation error, the fixed solvers "
                                                                "at the same NFE, and the cost."),
                io.Image.Output(display_name="plot", tooltip="Validation RMSE against NFE: learned solver, best "
                                                             "fixed solver and Euler."),
            ],
        )

    @classmethod
    def execute(cls, guider, latent_image, noise_seed: int, nfe: int, iterations: int, train_batches: int,
                reference_steps: int) -> io.NodeOutput:
        check_settings(nfe=nfe, iterations=iterations, train_batches=train_batches, reference_steps=reference_steps)
        if isinstance(noise_seed, bool) or not isinstance(noise_seed, int) or noise_seed < 0:
            raise ValueError(f"noise_seed: expected an integer >= 0, got {noise_seed!r}"[:200])
        check_flow_model(guider.model_patcher, "guider")
        latent = fix_empty_latent(guider.model_patcher, latent_image)
        check_latent(latent)
        settings = {"seed": noise_seed, "nfe": nfe, "iterations": iterations, "train_batches": train_batches,
                    "reference_steps": reference_steps}
        key = cache_key(guider, latent, settings)
        cached = key in _CACHE
        if cached:
            _CACHE.move_to_end(key)
        else:
            _CACHE[key] = run_fit(guider, latent_image, latent, noise_seed, nfe, iterations, train_batches,
                                  reference_steps)
            while len(_CACHE) > CACHE_SIZE:
                _CACHE.popitem(last=False)
        report = _CACHE[key]
        solver = report.fit.solver
        text = describe(report, noise_seed, train_batches, latent.shape[0], cached)
        return io.NodeOutput(rectiflow_ksampler(sample_learned, learned=solver), solver.sigmas.float(), text,
                             error_plot(report), ui={"text": [text]})


LEARNED_NODES = [LearnSolver]
