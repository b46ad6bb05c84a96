"""Guidance benchmark: RAAG, SMC-CFG and companions against ComfyUI's CFGGuider through the real sampling path.

    .venv/bin/python -P -m rectiflow.bench.guidance [--samples 2000] [--digits-per-label 10] [--quick]

1. Conditional analytic Gaussian mixture (2-D, 8 components on a ring, 4 classes of 2 opposite components each),
   wrapped as a real ComfyUI MODEL whose network returns the exact flow velocity of the selected components
   (condition = one-hot cross-attn context, last slot = unconditional). Sweep steps x w for every guider with
   RectiFlow Euler: class precision (share of samples whose nearest component is in the class), overshoot (mean
   distance beyond the 95% radius of the assigned in-class component, in its std) and mode coverage (1 - total
   variation between the in-class component shares and the true ones). Pareto plot against plain CFG.
2. Digits model: classifier accuracy, within-label diversity and saturation (pixels beyond [-1, 1]) vs steps.
3. Wall time per guider against CFGGuider at equal NFE on the digits model (min of interleaved repeats), and the
   cost of each guider's combination alone per model call (the only work a guider adds), with the ratio it implies.

Writes bench/out/guidance.json and bench/out/guidance_pareto.png and prints markdown tables.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from rectiflow.models.analytic_flows import GaussianMixtureFlow
from rectiflow.testing.comfy_host import REPO, boot_comfyui, pack_module, run_node
from rectiflow.testing.comfy_models import counting_model, digits_inputs

from ._plots import line_chart, save_grid
from ._report import write_section

OUT = REPO / "bench" / "out"
STEPS = (4, 8, 10, 16, 30)
WEIGHTS = (3.0, 7.0, 12.0)
R95_2D = math.sqrt(-2 * math.log(0.05))     # 95% radius of a 2-D standard normal

# ---------------------------------------------------------------------------------------------
# The analytic conditional mixture
# ---------------------------------------------------------------------------------------------

N_COMPONENTS, N_CLASSES, RADIUS, STD = 8, 4, 2.0, 0.55   # neighbours 2.8 std apart: classes overlap


def ring_means(radius: float = RADIUS) -> torch.Tensor:
    angles = torch.arange(N_COMPONENTS, dtype=torch.float64) * (2 * math.pi / N_COMPONENTS)
    return radius * torch.stack([angles.cos(), angles.sin()], dim=1)          # [K, 2]


def class_components(within: tuple[float, float] = (1.0, 1.0)) -> torch.Tensor:
    """[C + 1, K] component weights per condition: class c holds components c and c + 4 (weights `within`); the
    last row, the unconditional one, is the mean of the normalised class rows (equal class priors)."""
    table = torch.zeros(N_CLASSES + 1, N_COMPONENTS, dtype=torch.float64)
    for c in range(N_CLASSES):
        table[c, [c, c + N_CLASSES]] = torch.tensor(within, dtype=torch.float64) / sum(within)
    table[N_CLASSES] = table[:N_CLASSES].mean(dim=0)
    return table


@dataclass(frozen=True)
class MixtureTask:
    """A conditional 2-D Gaussian mixture: component means [K, 2], one std, and the [C + 1, K] weight table."""
    means: torch.Tensor
    std: float
    table: torch.Tensor

    @property
    def classes(self) -> int:
        return self.table.shape[0] - 1

    def config(self) -> dict:
        """MixtureNet's keyword arguments (plain lists: ComfyUI keeps the unet config)."""
        return {"means": self.means.tolist(), "std": self.std, "table": self.table.tolist()}


RING = MixtureTask(ring_means(), STD, class_components())


class MixtureNet(torch.nn.Module):
    """ComfyUI diffusion_model: [B, 2, 1, 1] latents, timesteps = 1000 sigma, context [B, L, C + 1] one-hot."""

    def __init__(self, dtype=None, means=None, std: float = STD, table=None, **_config):
        super().__init__()
        self.dtype = dtype or torch.float32
        self.register_buffer("table", class_components() if table is None else torch.tensor(table).double())
        self.flow = GaussianMixtureFlow(ring_means() if means is None else means, std)

    def forward(self, x, timesteps, context=None, **_kwargs):
        weights = context.mean(dim=1).double() @ self.table
        v = self.flow.velocity(x.reshape(x.shape[0], 2).double(), timesteps.double() / 1000,
                               log_weights=weights.clamp_min(1e-300).log())
        return v.to(x.dtype).view_as(x)


def mixture_model(task: MixtureTask = RING):
    flow_models = pack_module("nodes.flow_models")
    return flow_models.flow_model_patcher(MixtureNet, task.config(), flow_models.plain_latent_format(2),
                                          memory_usage_factor=0.01)


def one_hot(labels: torch.Tensor, classes: int = N_CLASSES) -> torch.Tensor:
    return torch.nn.functional.one_hot(labels, classes + 1).float().unsqueeze(1)


def exact_samples(labels: torch.Tensor, seed: int, task: MixtureTask = RING) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    components = torch.multinomial(task.table[labels].float(), 1, generator=gen)[:, 0]
    return task.means[components].float() + task.std * torch.randn(labels.shape[0], 2, generator=gen)


def mixture_metrics(samples: torch.Tensor, labels: torch.Tensor, task: MixtureTask = RING) -> dict[str, float]:
    """Class precision (nearest component in the class), overshoot (std units beyond the 95% radius of that
    component) and in-class mode coverage (1 - total variation between in-class component shares and the true)."""
    means, table = task.means.float(), task.table.float()
    dist = torch.cdist(samples.float(), means) / task.std                 # [N, K]
    nearest = dist.argmin(dim=1)
    in_class = table[labels, nearest] > 0
    beyond = (dist[torch.arange(len(samples)), nearest] - R95_2D).clamp_min(0)
    coverage = []
    for c in range(task.classes):
        hits = nearest[(labels == c) & in_class]
        members = table[c].nonzero()[:, 0]
        shares = torch.stack([(hits == k).float().mean() for k in members]) if len(hits) else None
        coverage.append(0.0 if shares is None else float(torch.minimum(shares, table[c, members]).sum()))
    return {"precision": float(in_class.float().mean()), "overshoot": float(beyond[in_class].mean()),
            "coverage": sum(coverage) / task.classes}


# ---------------------------------------------------------------------------------------------
# Guiders and the sampling path
# ---------------------------------------------------------------------------------------------

def guider_settings(w: float) -> dict[str, tuple[str, dict]]:
    """Every guider at nominal weight w (RAAG: w_max = w), paper defaults otherwise; "RAAG a3" is RAAG with
    alpha 3 instead of the SD3.5 value 12, which leaves w ~ 1 on this mixture's larger ratios r. Rectified-CFG++
    gets w - 1 (its CFG-equivalent weight is 1 + w); it and CFG-MP+ cost extra model calls per step."""
    return {
        "CFG": ("CFGGuider", {"cfg": w}),
        "RAAG": ("RectiFlowGuiderRAAG", {"w_max": w, "alpha": 12.0}),
        "RAAG a3": ("RectiFlowGuiderRAAG", {"w_max": w, "alpha": 3.0}),
        "SMC-CFG": ("RectiFlowGuiderSMCCFG", {"w": w, "lam": 5.0, "k": 0.5, "gain": "relative", "warmup_steps": 0,
                                              "boundary_layer": 0.0}),
        "CFG-Zero*": ("RectiFlowGuiderCFGZeroStar", {"w": w, "zeroed_steps": 1, "optimized_scale": True}),
        "APG": ("RectiFlowGuiderAPG", {"w": w, "momentum": -0.5, "norm_threshold": 0.0, "eta": 0.0}),
        "Interval": ("RectiFlowGuiderLimitedInterval", {"w": w, "sigma_lo": 0.2188, "sigma_hi": 0.8442}),
        "Rescale": ("RectiFlowGuiderRescale", {"w": w, "phi": 0.7, "space": "v"}),
        "Schedule": ("RectiFlowGuiderSchedule", {"w": w, "shape": "linear"}),
        "Rectified-CFG++": ("RectiFlowGuiderRectifiedCFGPP", {"w": w - 1, "predictor_fraction": 0.5}),
        "CFG-MP+": ("RectiFlowGuiderCFGMP", {"w": w, "switch_sigma": 0.5, "iterations": 3, "anderson_window": 1,
                                             "damping": 1.0}),
    }


EXTRA_CFG_WEIGHTS = (1.0, 1.5, 2.0, 4.0, 5.0, 9.0)   # a denser plain-CFG frontier for the Pareto plot


def build_guider(model, positive, negative, spec: tuple[str, dict]):
    node_id, settings = spec
    return run_node(node_id, model=model, positive=positive, negative=negative, **settings)[0]


def sample(guider, steps: int, latent: dict, seed: int, model, sampler, recorder=None) -> torch.Tensor:
    if recorder is not None:
        guider = pack_module("nodes.guidance_inspector").InspectedGuider(guider, recorder)
    sigmas = run_node("BasicScheduler", model=model, scheduler="simple", steps=steps, denoise=1.0)[0]
    return run_node("SamplerCustomAdvanced", noise=run_node("RandomNoise", noise_seed=seed)[0], guider=guider,
                    sampler=sampler, sigmas=sigmas, latent_image=latent)[0]["samples"]


def median_weight(recorder) -> float:
    """Median over model calls of the Inspector's effective w (the least-squares fit of v - v_u to w e)."""
    weights = sorted(c.weight for c in recorder.calls if math.isfinite(c.weight))
    return weights[len(weights) // 2] if weights else float("nan")


def sweep_specs(weights, extra_cfg=EXTRA_CFG_WEIGHTS) -> list[tuple[str, float, tuple[str, dict]]]:
    specs = [(name, w, spec) for w in weights for name, spec in guider_settings(w).items()]
    return specs + [("CFG", w, ("CFGGuider", {"cfg": w})) for w in extra_cfg]


def mixture_sweep(n_samples: int, steps_list, weights, seed: int = 0, task: MixtureTask = RING,
                  metrics=None, extra_cfg=EXTRA_CFG_WEIGHTS, inspect: bool = True) -> list[dict]:
    """Every guider (and the extra CFG weights) x steps on `task`; `metrics(samples [N, 2], labels)` -> dict
    (default: mixture_metrics); `inspect` records the Inspector's median effective w (slower)."""
    metrics = metrics or (lambda out, labels: mixture_metrics(out, labels, task))
    rows_evaluated = [0]
    model, sampler = counting_model(mixture_model(task), rows_evaluated), run_node("RectiFlowSamplerEuler")[0]
    labels = torch.arange(n_samples) % task.classes
    positive = [[one_hot(labels, task.classes), {}]]
    negative = [[one_hot(torch.tensor([task.classes]), task.classes), {}]]
    latent = {"samples": torch.zeros(n_samples, 2, 1, 1)}
    recorder_cls = pack_module("nodes.guidance_inspector").GuidanceRecorder
    rows = []
    for name, w, spec in sweep_specs(weights, extra_cfg):
        for steps in steps_list:
            recorder, rows_evaluated[0] = recorder_cls() if inspect else None, 0
            guider = build_guider(model, positive, negative, spec)
            out = sample(guider, steps, latent, seed, model, sampler, recorder).reshape(n_samples, 2)
            rows.append({"guider": name, "w": w, "steps": steps, "nfe": round(rows_evaluated[0] / n_samples, 1),
                         "median_w_eff": round(median_weight(recorder), 3) if inspect else None,
                         **{k: round(v, 4) for k, v in metrics(out, labels).items()}})
    print("mixture sweep done", flush=True)
    return rows


# ---------------------------------------------------------------------------------------------
# Digits model
# ---------------------------------------------------------------------------------------------

def digits_settings() -> dict[str, tuple[str, dict]]:
    return {"CFG w3": ("CFGGuider", {"cfg": 3.0}),
            "RAAG w_max 6 a 4": ("RectiFlowGuiderRAAG", {"w_max": 6.0, "alpha": 4.0}),
            "RAAG w_max 18 a 12": ("RectiFlowGuiderRAAG", {"w_max": 18.0, "alpha": 12.0}),
            "SMC-CFG w3": ("RectiFlowGuiderSMCCFG", {"w": 3.0, "lam": 5.0, "k": 0.5, "gain": "relative",
                                                    "warmup_steps": 0, "boundary_layer": 0.0})}


def digits_metrics(samples: torch.Tensor, classifier) -> dict[str, float]:
    from rectiflow.models.digits import classify

    labels = torch.arange(samples.shape[0]) % 10
    accuracy = float((classify(classifier, samples) == labels).float().mean())
    flat = samples.reshape(samples.shape[0], -1)
    diversity = [torch.pdist(flat[labels == c]).mean() / math.sqrt(flat.shape[1]) for c in range(10)]
    return {"accuracy": accuracy, "diversity": float(torch.stack(diversity).mean()),
            "saturation": float((samples.abs() > 1.0).float().mean())}


def digits_sweep(per_label: int, steps_list, seed: int = 1) -> list[dict]:
    from rectiflow.models.digits import load_digits_classifier

    classifier = load_digits_classifier(REPO / "weights" / "digits_classifier.safetensors")
    model, positive, negative, latent = digits_inputs(per_label)
    sampler, rows = run_node("RectiFlowSamplerEuler")[0], []
    for name, spec in digits_settings().items():
        for steps in steps_list:
            out = sample(build_guider(model, positive, negative, spec), steps, latent, seed, model, sampler)
            rows.append({"guider": name, "steps": steps,
                         **{k: round(v, 4) for k, v in digits_metrics(out, classifier).items()}})
        print(f"digits: {name} done", flush=True)
    return rows


def timing(per_label: int, steps: int, repeats: int) -> list[dict]:
    """Seconds per run, min over interleaved repeats (order rotated each round), and the ratio to CFGGuider
    (all at 2 model passes per step)."""
    model, positive, negative, latent = digits_inputs(per_label)
    sampler = run_node("RectiFlowSamplerEuler")[0]
    extra_calls = ("Interval", "Rectified-CFG++", "CFG-MP+")      # different NFE: not comparable here
    specs = {k: v for k, v in guider_settings(3.0).items() if k not in extra_calls}
    specs["CFG-Zero*"] = ("RectiFlowGuiderCFGZeroStar", {"w": 3.0, "zeroed_steps": 0, "optimized_scale": True})
    best = {name: math.inf for name in specs}
    sample(build_guider(model, positive, negative, specs["CFG"]), 2, latent, 0, model, sampler)     # warm-up
    names = list(specs)
    for round_ in range(repeats):
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:     # rotate: no fixed order bias
            spec = specs[name]
            guider = build_guider(model, positive, negative, spec)
            start = time.perf_counter()
            sample(guider, steps, latent, 0, model, sampler)
            best[name] = min(best[name], time.perf_counter() - start)
    return [{"guider": name, "seconds": round(t, 3), "ratio_vs_cfg": round(t / best["CFG"], 3)}
            for name, t in best.items()]


def combination_overhead(per_label: int, seconds_per_step: float, calls: int = 300) -> list[dict]:
    """Microseconds per call of each guider's combination (the only work a guider adds to CFGGuider) on digits-
    shaped tensors, and the wall-time ratio it implies at the measured CFG seconds per step."""
    laws_module, runs, patches = (pack_module(f"nodes.guidance_{name}") for name in ("laws", "runs", "patches"))
    gen = torch.Generator().manual_seed(0)
    x, cond, uncond = (torch.randn(10 * per_label, 1, 16, 16, generator=gen) for _ in range(3))
    sigma = torch.full((x.shape[0],), 0.5)
    args = {"input": x, "sigma": sigma, "timestep": sigma, "cond": cond, "uncond": uncond, "cond_denoised": x - cond,
            "uncond_denoised": x - uncond, "cond_scale": 3.0, "input_cond": [{}], "input_uncond": [{}],
            "model_options": {"transformer_options": {"sample_sigmas": torch.linspace(1, 0, 9)}}}
    laws = {"RAAG": laws_module.RAAGLaw(3.0, 12.0), "SMC-CFG": laws_module.SMCLaw(3.0),
            "CFG-Zero*": laws_module.CFGZeroStarLaw(3.0, 0), "APG": laws_module.APGLaw(3.0),
            "Rescale": laws_module.RescaleLaw(3.0), "Schedule": laws_module.ScheduleLaw(3.0)}
    functions = {"CFG": lambda a: a["uncond"] + (a["cond"] - a["uncond"]) * a["cond_scale"]}
    for name, law in laws.items():
        run = runs.RunState(law)
        step_of = lambda a, run=run: (run, runs.guidance_step(a["input"], a["sigma"], a["model_options"], run))  # noqa: E731
        functions[name] = patches.make_cfg_function(law, step_of, None)
    micros = {}
    for name, fn in functions.items():
        fn(args)
        start = time.perf_counter()
        for _ in range(calls):
            fn(args)
        micros[name] = (time.perf_counter() - start) / calls * 1e6
    return [{"guider": name, "us_per_call": round(us, 1),
             "implied_ratio": round(1 + (us - micros["CFG"]) * 1e-6 / seconds_per_step, 4)}
            for name, us in micros.items()]


# ---------------------------------------------------------------------------------------------
# Plot and tables
# ---------------------------------------------------------------------------------------------

COLOURS = {"CFG": (0, 0, 0), "RAAG": (214, 39, 40), "RAAG a3": (255, 127, 14), "SMC-CFG": (31, 119, 180), "CFG-Zero*": (44, 160, 44),
           "APG": (148, 103, 189), "Interval": (140, 86, 75), "Rescale": (227, 119, 194), "Schedule": (127, 127, 127),
           "Rectified-CFG++": (23, 190, 207), "CFG-MP+": (188, 189, 34)}


def pareto_panel(rows: list[dict], steps: int, exact: dict):
    """Precision (y) against overshoot (x, log, floored at 1e-3) at one step count; one polyline per guider through
    its weights."""
    chosen = sorted((r for r in rows if r["steps"] == steps), key=lambda r: r["w"])
    point = lambda r: (max(r["overshoot"], 1e-3), r["precision"])                  # noqa: E731
    series = {name: [point(r) for r in chosen if r["guider"] == name] for name in COLOURS}
    return line_chart(f"{steps} steps: precision (up) vs overshoot (right)", series, "overshoot", "precision",
                      log_x=True, log_y=False, colours=COLOURS, labelled_points={"exact": point(exact)})


def save_pareto(rows: list[dict], exact: dict, steps_list) -> Path:
    panels = [pareto_panel(rows, s, exact) for s in steps_list]
    return save_grid(panels, OUT / "guidance_pareto.png", columns=len(panels))


def table(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def summary_table(rows: list[dict], steps_list=(4, 10, 30)) -> str:
    """Precision / overshoot per step count: the headline guiders at every w, the companions at w = 7."""
    headline = ("CFG", "RAAG", "RAAG a3", "SMC-CFG")
    picks = [(g, w) for g in headline for w in WEIGHTS]
    picks += [(g, 7.0) for g in COLOURS if g not in headline]
    columns = ["guider", "w", *[f"{s} steps: precision / overshoot" for s in steps_list]]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for name, w in picks:
        cells = [f"{find(rows, guider=name, w=w, steps=s)['precision']:.3f} / "
                 f"{find(rows, guider=name, w=w, steps=s)['overshoot']:.3f}" for s in steps_list]
        lines.append(f"| {name} | {w:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def find(rows, **match):
    return next(r for r in rows if all(r[k] == v for k, v in match.items()))


def goals(rows: list[dict], timings: list[dict], overhead: list[dict]) -> list[str]:
    lines = []
    for name in ("RAAG", "RAAG a3"):
        for w in WEIGHTS:
            raag, cfg = find(rows, guider=name, w=w, steps=10), find(rows, guider="CFG", w=w, steps=30)
            lines.append(f"{name} 10 steps vs CFG 30 steps, w {w:g}: precision {raag['precision']:.3f} vs "
                         f"{cfg['precision']:.3f}, overshoot {raag['overshoot']:.3f} vs {cfg['overshoot']:.3f} "
                         f"(RAAG median w_eff {raag['median_w_eff']:g})")
    for w in (7.0, 12.0):
        for steps in (10, 30):
            smc, cfg = find(rows, guider="SMC-CFG", w=w, steps=steps), find(rows, guider="CFG", w=w, steps=steps)
            lines.append(f"SMC-CFG vs CFG, w {w:g}, {steps} steps: precision {smc['precision']:.3f} vs "
                         f"{cfg['precision']:.3f}, overshoot {smc['overshoot']:.3f} vs {cfg['overshoot']:.3f}")
    worst = max((t for t in timings if t["guider"] != "CFG"), key=lambda t: t["ratio_vs_cfg"])
    lines.append(f"largest end-to-end wall-time ratio vs CFGGuider at equal NFE: {worst['guider']} "
                 f"{worst['ratio_vs_cfg']:.3f} (this machine's run-to-run noise is several percent)")
    costly = max((o for o in overhead if o["guider"] != "CFG"), key=lambda o: o["implied_ratio"])
    lines.append(f"largest ratio implied by the combination's own cost: {costly['guider']} {costly['implied_ratio']:.4f}")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000, help="mixture samples per configuration")
    parser.add_argument("--digits-per-label", type=int, default=10)
    parser.add_argument("--timing-repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer samples, steps and repeats")
    args = parser.parse_args(argv)
    steps_list, digit_steps = (STEPS, (2, 4, 8, 16)) if not args.quick else ((4, 10, 30), (4,))
    samples = args.samples if not args.quick else 400
    boot_comfyui()
    OUT.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    labels = torch.arange(samples) % N_CLASSES
    exact = {k: round(v, 4) for k, v in mixture_metrics(exact_samples(labels, seed=0), labels).items()}
    mixture = mixture_sweep(samples, steps_list, WEIGHTS)
    digits = digits_sweep(args.digits_per_label if not args.quick else 2, digit_steps)
    timings = timing(args.digits_per_label, steps=8, repeats=args.timing_repeats if not args.quick else 1)
    cfg_step = next(t["seconds"] for t in timings if t["guider"] == "CFG") / 8
    overhead = combination_overhead(args.digits_per_label, cfg_step)
    plot = save_pareto(mixture, exact, steps_list)
    summary = goals(mixture, timings, overhead) if not args.quick else []
    result = {"exact_conditional": exact, "mixture": mixture, "digits": digits, "timing": timings,
              "combination_overhead": overhead,
              "goals": summary, "seconds": round(time.perf_counter() - start, 1)}
    (OUT / "guidance.json").write_text(json.dumps(result, indent=1))
    print(f"\nexact conditional samples: {exact}\n")
    print(table(mixture, ["guider", "w", "steps", "nfe", "precision", "overshoot", "coverage", "median_w_eff"]),
          "\n")
    print(table(digits, ["guider", "steps", "accuracy", "diversity", "saturation"]), "\n")
    print(table(timings, ["guider", "seconds", "ratio_vs_cfg"]), "\n")
    print(table(overhead, ["guider", "us_per_call", "implied_ratio"]), "\n")
    if not args.quick:
        print(summary_table(mixture), "\n")
        write_section("guidance", ".venv/bin/python -P -m rectiflow.bench.guidance",
                      f"Exact conditional samples: {exact}\n\n{summary_table(mixture)}\n\n" + "\n".join(summary))
    print("\n".join(summary))
    print(f"\nwrote {OUT / 'guidance.json'} and {plot} in {result['seconds']} s")


if __name__ == "__main__":
    main(sys.argv[1:])
