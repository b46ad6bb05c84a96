"""samplers/editing/masks.mask_to_latent: a ComfyUI MASK as a latent-resolution weight (kornia resize)."""
import pytest
import torch

from rectiflow.samplers.editing import mask_to_latent


def top_half(height: int = 64, width: int = 64) -> torch.Tensor:
    mask = torch.zeros(height, width)
    mask[: height // 2] = 1.0
    return mask


def test_an_image_mask_becomes_a_latent_weight_with_its_region():
    out = mask_to_latent(top_half()[None], (1, 16, 8, 8))
    assert out.shape == (1, 1, 8, 8)
    assert out.min().item() >= 0.0 and out.max().item() <= 1.0
    assert torch.allclose(out[..., :3, :], torch.ones(1, 1, 3, 8)) and torch.allclose(out[..., 5:, :], torch.zeros(1, 1, 3, 8))


def test_a_mask_at_the_latent_size_is_kept_as_is():
    mask = torch.rand(2, 8, 12)
    assert torch.equal(mask_to_latent(mask, (2, 4, 8, 12))[:, 0], mask)


@pytest.mark.parametrize("mask", [top_half(), top_half()[None], top_half()[None, None]])
def test_one_mask_serves_the_whole_batch(mask):
    out = mask_to_latent(mask, (3, 4, 8, 8))
    assert out.shape == (3, 1, 8, 8) and torch.equal(out[0], out[2])


def test_a_video_latent_gets_a_frame_axis():
    assert mask_to_latent(top_half(), (2, 16, 5, 8, 8)).shape == (2, 1, 1, 8, 8)


def test_a_mask_batch_that_does_not_match_is_refused():
    with pytest.raises(ValueError, match=r"mask: expected 1 mask or one per latent \(3\), got a batch of 2"):
        mask_to_latent(torch.zeros(2, 64, 64), (3, 4, 8, 8))


def test_a_mask_of_another_aspect_ratio_is_refused_by_name():
    with pytest.raises(ValueError, match=r"source_mask: expected a mask with the image's aspect ratio \(8 x 8 latent"):
        mask_to_latent(torch.zeros(64, 32), (1, 4, 8, 8), name="source_mask")


@pytest.mark.parametrize("mask, message", [(torch.zeros(2, 3, 8, 8), "shaped"), (torch.zeros(8), "shaped"),
                                           (torch.full((8, 8), float("nan")), "NaN"), ([[0.0]], "MASK tensor")])
def test_malformed_masks_are_refused(mask, message):
    with pytest.raises(ValueError, match=f"mask: .*{message}"):
        mask_to_latent(mask, (1, 4, 8, 8))
