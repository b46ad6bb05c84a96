"""The guidance-tasks benchmark's exact references: a Gaussian mixture's analytic class-conditional mean and
covariance (GaussianMixtureFlow.moments) against a large seeded Monte-Carlo draw, and the Frechet distance
(bench/_solver_digits.frechet_distance) against a hand-computed 2-D case."""
import math

import pytest
import torch

from rectiflow.bench._solver_digits import frechet_distance
from rectiflow.bench.guidance import RING, exact_samples
from rectiflow.bench.guidance_tasks import OVERLAP, class_moments
from rectiflow.models.analytic_flows import GaussianMixtureFlow

pytestmark = pytest.mark.usefixtures("one_thread")


def test_moments_match_a_large_draw_of_unequal_weights():
    flow = GaussianMixtureFlow([[1.5, 1.5], [-1.0, -0.8], [0.6, -1.4]], 0.4, weights=[0.5, 0.3, 0.2])
    draw = flow.sample(400_000, generator=torch.Generator().manual_seed(0))
    mean, cov = flow.moments()
    assert torch.allclose(mean, draw.mean(0), atol=0.01)
    assert torch.allclose(cov, torch.cov(draw.T), atol=0.02)
    assert cov[0, 1] > 0.5                                                     # correlated, not diagonal


def test_ring_class_moments_are_the_opposite_pair_formula():
    """Class c of the ring holds two opposite components: mean 0, covariance std^2 I + mu_c mu_c^T."""
    for c, (mean, cov) in enumerate(class_moments(RING)):
        mu = RING.means[c]
        assert torch.allclose(mean, torch.zeros(2, dtype=torch.float64), atol=1e-12)
        assert torch.allclose(cov, RING.std ** 2 * torch.eye(2, dtype=torch.float64) + torch.outer(mu, mu))


def test_overlap_class_moments_match_the_benchmarks_exact_sampler():
    labels = torch.full((200_000,), 1)
    draw = exact_samples(labels, seed=3, task=OVERLAP).double()
    mean, cov = class_moments(OVERLAP)[1]
    assert mean.abs().max() > 0.3                      # 2:1 weights within the class: the mean leaves the origin
    assert torch.allclose(mean, draw.mean(0), atol=0.02)
    assert torch.allclose(cov, torch.cov(draw.T), atol=0.05)


def test_frechet_2d_hand_computed():
    """Points (+-a, 0), (0, +-b) with a^2 = 6, b^2 = 1.5 have unbiased covariance diag(4, 1); shifted by (1, 2)
    against N(0, diag(1, 9)): 1 + 4 + (2 - 1)^2 + (1 - 3)^2 = 10, and the same after rotating both."""
    points = torch.tensor([[6 ** 0.5, 0], [-6 ** 0.5, 0], [0, 1.5 ** 0.5], [0, -1.5 ** 0.5]], dtype=torch.float64)
    shifted, cov = points + torch.tensor([1.0, 2.0], dtype=torch.float64), torch.diag(torch.tensor([1.0, 9.0]))
    assert frechet_distance(shifted, torch.zeros(2, dtype=torch.float64), cov.double()) == pytest.approx(10, abs=1e-9)
    angle = math.pi / 6
    rot = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], dtype=torch.float64)
    rotated = frechet_distance(shifted @ rot.T, torch.zeros(2, dtype=torch.float64), rot @ cov.double() @ rot.T)
    assert rotated == pytest.approx(10, abs=1e-9)
