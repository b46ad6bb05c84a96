"""NaN or infinite parameters sent through the JSON API are refused by name before any sampling."""
import math

import pytest

from rectiflow.testing.comfy_host import run_node


@pytest.mark.parametrize("node_id, inputs, name", [
    ("RectiFlowSamplerSDE", {"noise_scale": math.nan, "diffusion": "sigma"}, "noise_scale"),
    ("RectiFlowSamplerSDE", {"noise_scale": math.inf, "diffusion": "sigma"}, "noise_scale"),
    ("RectiFlowSamplerAdaptive", {"rtol": math.nan, "atol": 1e-4, "max_nfe": 50}, "rtol"),
    ("RectiFlowSamplerAdaptive", {"rtol": 1e-3, "atol": -math.inf, "max_nfe": 50}, "atol"),
])
def test_nonfinite_sampler_parameters_are_named(comfy, node_id, inputs, name):
    with pytest.raises(ValueError, match=rf"^{name}: expected a finite number, got (nan|inf|-inf)$"):
        run_node(node_id, **inputs)


def test_unknown_sde_diffusion_is_named(comfy):
    with pytest.raises(ValueError, match=r"^diffusion: 'cubic' is not a diffusion shape"):
        run_node("RectiFlowSamplerSDE", noise_scale=0.5, diffusion="cubic")
