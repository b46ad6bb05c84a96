"""Solver benchmark on the digits model: classifier accuracy, Frechet distance in the classifier's features and
RMSE against a tight adaptive solve (bench/solvers.py)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from rectiflow.models.digits_data import real_digits
from rectiflow.testing.comfy_host import REPO, pack_module
from rectiflow.testing.comfy_models import digits_inputs

from ._solver_cases import DIGITS_REFERENCE_RTOL, Config, adaptive_spec, builtin_specs, our_specs
from ._solver_learned import learned_rows
from ._solver_runs import Setup, generate, generation_sweep, make_setup, rmse


@dataclass
class DigitsJudge:
    """Classifier accuracy, Frechet distance to the real data in classifier features, RMSE to a fine solution."""
    classifier: torch.nn.Module
    labels: torch.Tensor
    data_mean: torch.Tensor
    data_cov: torch.Tensor
    reference: torch.Tensor | None = None

    def features(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.classifier.features(images.float().clamp(-1, 1)).double()

    def __call__(self, images: torch.Tensor) -> dict:
        features = self.features(images)
        with torch.no_grad():
            predicted = self.classifier.head(features.float()).argmax(dim=1)
        row = {"accuracy": float((predicted == self.labels).float().mean()),
               "frechet": frechet_distance(features, self.data_mean, self.data_cov)}
        if self.reference is not None:
            row["rmse"] = rmse(images, self.reference)
        return row


def frechet_distance(features: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2)) between Gaussian fits (Heusel et al. 2017)."""
    import scipy.linalg

    mu, c = features.mean(0), torch.cov(features.T)
    root = scipy.linalg.sqrtm((c @ cov).numpy()).real
    return float((mu - mean).pow(2).sum() + torch.trace(c + cov) - 2 * float(root.trace()))


def digits_setup(cfg: Config) -> Setup:
    model, conditioning, _, latent = digits_inputs(cfg.digits_per_label)
    return make_setup(model, conditioning, latent["samples"], cfg.seed)


def digits_judge(setup: Setup, cfg: Config) -> DigitsJudge:
    digits = pack_module("models.digits")
    classifier = digits.load_digits_classifier(REPO / "weights" / "digits_classifier.safetensors")
    labels = torch.arange(10).repeat(cfg.digits_per_label)
    judge = DigitsJudge(classifier, labels, torch.zeros(1), torch.zeros(1))
    data_features = judge.features(real_digits())
    judge.data_mean, judge.data_cov = data_features.mean(0), torch.cov(data_features.T)
    return judge


def digits_baselines(setup: Setup, judge: DigitsJudge, cfg: Config) -> list[dict]:
    """A tight adaptive solve (the RMSE reference) and real digits (the Frechet floor at this sample size).

    Adaptive Bogacki-Shampine at rtol 1e-4 (about 240 calls) is within 5e-4 RMSE of rtol 1e-5 on this model;
    RK4 with 32 steps is not (4e-3: its last step into sigma 0 is an Euler step), so it cannot be the reference.
    """
    spec = adaptive_spec(DIGITS_REFERENCE_RTOL)
    fine, nfe = generate(setup, spec.build(), setup.sigmas("default", 1))
    judge.reference = fine
    gen = torch.Generator().manual_seed(cfg.seed)
    real = real_digits()[torch.randperm(1797, generator=gen)[:setup.batch]]
    real_row = {"case": "digits", "sampler": f"real digits ({setup.batch})", "frechet":
                frechet_distance(judge.features(real), judge.data_mean, judge.data_cov)}
    return [{"case": "digits", "sampler": f"reference: {spec.label}", "schedule": "adaptive", "actual_nfe": nfe,
             **judge(fine)}, real_row]


def digits_generation(setup: Setup, cfg: Config) -> tuple[list[dict], list[dict]]:
    judge = digits_judge(setup, cfg)
    baselines = digits_baselines(setup, judge, cfg)
    specs = our_specs(include_sde=True) + builtin_specs()
    learned = learned_rows(setup, judge, {"case": "digits"}, cfg.nfes, cfg.learned_iterations,
                           cfg.learned_reference_steps)
    return generation_sweep(setup, specs, cfg.nfes, judge, {"case": "digits"}) + learned, baselines
