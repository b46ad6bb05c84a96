"""models/reflow.py: the U-shaped timestep law and pseudo-Huber loss of Lee et al. 2024 (arXiv 2405.20320), the
guided teacher velocity, and a fixed-seed training step that repeats bit for bit."""
import math

import pytest
import torch

from rectiflow.models import digits as D
from rectiflow.models import reflow as R


def test_u_shaped_timesteps_follow_the_cosh_density():
    t = R.u_shaped_timesteps(200_000, torch.Generator().manual_seed(0))
    assert 0 < float(t.min()) and float(t.max()) < 1
    a, edges = R.U_SHAPE_A, torch.linspace(0, 1, 11)
    # P(bin) for density cosh(a (t - 1/2)) / Z on [0, 1], Z = 2 sinh(a / 2) / a
    cdf = lambda x: (math.sinh(a * (x - 0.5)) + math.sinh(a / 2)) / (2 * math.sinh(a / 2))  # noqa: E731
    expected = torch.tensor([cdf(float(hi)) - cdf(float(lo)) for lo, hi in zip(edges[:-1], edges[1:])])
    observed = torch.histc(t, bins=10, min=0, max=1) / t.numel()
    torch.testing.assert_close(observed, expected, atol=3e-3, rtol=0)
    assert observed[0] > 2.5 * observed[5] and observed[-1] > 2.5 * observed[4]  # U-shaped: ends about 3x the middle


def test_pseudo_huber_is_zero_at_the_target_and_the_scaled_l2_norm_far_from_it():
    x = torch.randn(3, 1, 16, 16)
    assert torch.all(R.pseudo_huber(x, x) == 0)
    far = R.pseudo_huber(x + 10, x)
    torch.testing.assert_close(far, torch.full((3,), 10.0), rtol=1e-3, atol=0)  # ||10||_2 / sqrt(256) = 10
    near = R.pseudo_huber(x + 1e-4, x)
    c = R.HUBER_C_PER_SQRT_DIM * 16
    torch.testing.assert_close(near, torch.full((3,), (1e-4 * 16) ** 2 / (2 * c) / 16), rtol=1e-2, atol=0)


def test_guided_velocity_guides_labels_and_leaves_null_rows_unguided():
    torch.manual_seed(0)
    model = D.DigitsUNet(base_channels=8, channel_mults=[1], emb_dim=16).eval()
    x, labels = torch.randn(4, 1, 16, 16), torch.tensor([3, D.NULL_LABEL, 7, D.NULL_LABEL])
    with torch.no_grad():
        cond = model(x, torch.full((4,), 400.0), D.label_one_hot(labels))
        null = model(x, torch.full((4,), 400.0), D.label_one_hot(torch.full((4,), D.NULL_LABEL)))
    v = R.guided_velocity(model, x, 0.4, labels, 3.0)
    torch.testing.assert_close(v[[0, 2]], (null + 3.0 * (cond - null))[[0, 2]], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(v[[1, 3]], null[[1, 3]], rtol=1e-5, atol=1e-5)


def test_pair_sigmas_run_from_noise_to_data_with_short_steps_at_the_end():
    s = R.pair_sigmas(6)
    assert float(s[0]) == 1.0 and float(s[-1]) == 0.0 and torch.all(s[1:] < s[:-1])
    assert float(s[-2] - s[-1]) < float(s[0] - s[1])


@pytest.mark.parametrize("loss", ["reflow", "distill"])
def test_training_with_a_fixed_seed_repeats_exactly(loss):
    torch.manual_seed(1)
    teacher = D.DigitsUNet(base_channels=8, channel_mults=[1], emb_dim=16).eval()
    labels = R.pair_labels(20, 0.1, torch.Generator().manual_seed(0))
    assert int((labels == D.NULL_LABEL).sum()) == 2
    pairs = R.make_pairs(lambda y: lambda x, s: R.guided_velocity(teacher, x, s, y, 3.0), labels, R.pair_sigmas(2),
                         seed=0, batch=10, log=lambda _: None)
    loss_fn = R.reflow_loss() if loss == "reflow" else R.distill_loss(D.DigitsClassifier(width=8))
    cfg = R.TrainConfig(steps=3, batch=4, warmup=2, seed=5, log_every=10)

    def run():
        student = D.DigitsUNet(base_channels=8, channel_mults=[1], emb_dim=16)
        student.load_state_dict(teacher.state_dict())
        return R.train(student, pairs, loss_fn, cfg, loss, log=lambda _: None).state_dict()
    first, second = run(), run()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert any(not torch.equal(first[k], teacher.state_dict()[k]) for k in first)
