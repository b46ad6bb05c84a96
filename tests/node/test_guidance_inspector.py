"""Guidance Inspector: wraps any guider, records r, |e|, effective w and switching per step, returns plot + text."""
import math

import pytest
import torch

from rectiflow.testing.comfy_host import run_node
from digits_helpers import digits_model, empty_latent, labels_cond
from guidance_helpers import GUIDER_SETTINGS, cfg_guider, fixed_noise, guidance_module, guider, sample, \
    simple_sigmas, stock_sampler


def inspect(guider_obj, steps: int = 6, batch: int = 4, sampler_name: str = "euler"):
    noise = fixed_noise(batch)
    latent, plot, report = run_node("RectiFlowGuidanceInspector", noise=noise, guider=guider_obj,
                                    sampler=stock_sampler(sampler_name), sigmas=simple_sigmas(steps),
                                    latent_image=empty_latent(batch))
    return latent["samples"], plot, report


def table_cells(line: str) -> list[str]:
    """The cells of a Markdown table row, escaped pipes restored."""
    return [cell.strip().replace("\\|", "|") for cell in line.strip()[1:-1].split(" | ")]


def report_rows(report: str) -> list[dict[str, float]]:
    header, separator, *rows = [line for line in report.splitlines() if line.startswith("|")]
    assert set(separator.replace("|", "").split()) == {"---:"}
    return [{k: (math.nan if v == "-" else float(v)) for k, v in zip(table_cells(header), table_cells(row))}
            for row in rows]


def test_inspecting_cfg_shows_its_constant_weight_and_keeps_the_result(comfy):
    cfg = cfg_guider(3.0)
    samples, plot, report = inspect(cfg)
    torch.testing.assert_close(samples, sample(cfg, steps=6, batch=4, noise=fixed_noise(4)), rtol=0, atol=0)
    rows = report_rows(report)
    assert [r["step"] for r in rows] == list(range(6))
    assert all(abs(r["w_eff"] - 3.0) < 1e-3 for r in rows)
    assert all(r["r"] > 0 and r["|e|"] > 0 and math.isnan(r["switching"]) for r in rows)
    assert plot.shape == (1, 600, 1260, 3) and 0 <= float(plot.min()) and float(plot.max()) <= 1
    assert "sampler_post_cfg_function" not in cfg.model_options       # the probe is removed afterwards


def test_raag_weight_follows_its_ratio(comfy):
    _, _, report = inspect(guider("RectiFlowGuiderRAAG", labels="4", w_max=8.0, alpha=3.0), batch=1)
    for row in report_rows(report):
        assert row["w_eff"] == pytest.approx(1 + 7 * math.exp(-3 * row["r"]), rel=2e-3)


def test_smc_switching_activity_is_recorded_from_the_second_step(comfy):
    smc = guider("RectiFlowGuiderSMCCFG", **GUIDER_SETTINGS["RectiFlowGuiderSMCCFG"])
    _, _, report = inspect(smc, sampler_name="heun")
    rows = report_rows(report)
    assert math.isnan(rows[0]["switching"])
    assert all(0.0 <= r["switching"] <= 1.0 for r in rows[1:])
    assert "6 steps, 11 guided model calls" in report      # heun: 2 calls per step, Euler on the last


def test_recorder_numbers_on_fixed_tensors(comfy):
    recorder = guidance_module("guidance_inspector").GuidanceRecorder()
    x = torch.ones(1, 1, 2, 2)
    v_c, v_u = torch.tensor([2.0, 0.0, 0.0, 0.0]).view(1, 1, 2, 2), torch.tensor([0.0, 1.0, 0.0, 0.0]).view(1, 1, 2, 2)
    v = v_u + 2.5 * (v_c - v_u)
    sigma = torch.tensor([0.5])
    recorder.note("smc_cfg", {"switching": torch.tensor([0.25])})
    recorder.post_cfg({"input": x, "sigma": sigma, "denoised": x - 0.5 * v, "cond_denoised": x - 0.5 * v_c,
                       "uncond_denoised": x - 0.5 * v_u, "uncond": [{}], "model_options": {}})
    (call,) = recorder.calls
    assert call.ratio == pytest.approx(math.sqrt(5.0)) and call.error_norm == pytest.approx(math.sqrt(5.0))
    assert call.weight == pytest.approx(2.5) and call.switching == 0.25


def test_inspector_wraps_guiders_without_uncond(comfy):
    basic = run_node("BasicGuider", model=digits_model(), conditioning=labels_cond("1"))[0]
    _, plot, report = inspect(basic, steps=3, batch=2)
    rows = report_rows(report)
    assert len(rows) == 3 and all(math.isnan(r["r"]) and r["x0_std_ratio"] == pytest.approx(1.0) for r in rows)
    assert plot.shape[0] == 1


def test_report_is_a_markdown_table(comfy):
    inspector = guidance_module("guidance_inspector")
    records = [inspector.CallRecord(0, 1.0, 0.5, 2.0, 3.0, math.nan, 1.25),
               inspector.CallRecord(1, 0.5, 0.25, 1.5, 2.5, 0.125, 1.0)]
    assert inspector.inspector_report(records, 3) == "\n".join([
        "Guidance Inspector: 2 steps, 3 guided model calls",
        "",
        "| step | sigma | r | \\|e\\| | w_eff | switching | x0_std_ratio |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        "| 0 | 1.0000 | 0.5 | 2 | 3 | - | 1.2500 |",
        "| 1 | 0.5000 | 0.25 | 1.5 | 2.5 | 0.125 | 1.0000 |"])
    rows = report_rows(inspector.inspector_report(records, 3))
    assert rows[1]["|e|"] == 1.5 and math.isnan(rows[0]["switching"])
