"""Learned few-step solvers (BNS form, arXiv 2403.01329; time steps as in LD3, arXiv 2405.15506), fitted to fine
reference trajectories of one model without gradients through it (pure torch, never imports comfy).

Layout: solver (the solver, its sampler function, the sigmas check), reference (fine RK4 solves, Hermite
interpolation), fit (least-squares coefficients, Nelder-Mead time steps), refine (Levenberg-Marquardt on the
final error), training (references, fit, validation and the fixed-solver comparison).
"""
from __future__ import annotations

from .fit import FitData, FitResult, fit_coefficients, fit_solver, logits_from_sigmas, nelder_mead, sigmas_from_logits
from .reference import Reference, model_velocity, rk4_reference
from .refine import refine_coefficients
from .solver import LearnedSigmasError, LearnedSolver, ab2_rows, check_learned_sigmas, euler_rows, sample_learned
from .training import FIXED_SOLVERS, LearnReport, learn_solver

__all__ = [
    "FitData", "FitResult", "fit_coefficients", "fit_solver", "logits_from_sigmas", "nelder_mead",
    "sigmas_from_logits", "Reference", "model_velocity", "rk4_reference", "refine_coefficients", "LearnedSigmasError", "LearnedSolver",
    "ab2_rows", "check_learned_sigmas", "euler_rows", "sample_learned", "FIXED_SOLVERS", "LearnReport", "learn_solver",
]
