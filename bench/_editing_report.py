"""The editing benchmark's table, goal check and Pareto plot (bench/editing.py)."""
from __future__ import annotations

from pathlib import Path

EULER = "Euler invert-regenerate"
SUCCESS_GOAL, IDENTITY_GOAL_PCT = 0.9, 1.0


def nearest_euler(rows: list[dict], calls: int) -> dict | None:
    """The Euler baseline row with the model calls nearest to `calls` (the larger one on a tie)."""
    euler = [r for r in rows if r["operator"] == EULER]
    return min(euler, key=lambda r: (abs(r["model_calls"] - calls), -r["model_calls"]), default=None)


def goal_rows(rows: list[dict]) -> list[dict]:
    """Operator settings with >= 90% success, each with the Euler baseline at the nearest number of calls."""
    found = []
    for row in rows:
        if row["baseline"] or row["success"] < SUCCESS_GOAL:
            continue
        euler = nearest_euler(rows, row["model_calls"])
        if euler is not None:
            found.append({"row": row, "euler": euler, "better": row["mse"] < euler["mse"],
                          "identity_ok": row["identity_error_pct"] < IDENTITY_GOAL_PCT})
    return found


def goals(rows: list[dict]) -> list[str]:
    found = goal_rows(rows)
    met = [f for f in found if f["better"] and f["identity_ok"]]
    lines = [f"{f['row']['operator']} {f['row']['knob']} {f['row']['value']:g}: success "
             f"{100 * f['row']['success']:.1f}%, MSE {f['row']['mse']:.4f} vs Euler baseline at "
             f"{f['euler']['model_calls']} calls {f['euler']['mse']:.4f} ({'lower' if f['better'] else 'not lower'}), "
             f"identity error {f['row']['identity_error_pct']:.2f}% ({'< 1%' if f['identity_ok'] else '>= 1%'})"
             for f in found]
    verdict = "met" if met else "not met"
    if not found:
        lines = ["no operator setting reaches 90% success"]
    return [f"goal {verdict}: >= 90% success with a lower MSE than the Euler baseline at equal model calls and an "
            "identity error below 1%", *lines]


def markdown(rows: list[dict], settings: dict) -> str:
    head = (f"Real scikit-learn digits, {settings['edits']} edits over all 90 (source -> target) label pairs "
            f"({settings['images_per_pair']} images each) and {settings['identity_edits']} identity edits; "
            f"digits_rf.safetensors with CFG {settings['cfg']:g} on both branches, operators on {settings['steps']} "
            f"linear steps; seed {settings['seed']}. Success: the shipped classifier reads the target label. MSE, "
            "SSIM and background MSE against the source (images clamped to [-1, 1]); identity: RMS error of the "
            "target = source edit in % of the data range; model calls: guided velocity evaluations per edit (2 "
            "network passes each).\n\n")
    table = ("| operator | knob | success % | MSE | SSIM | background MSE | identity error % | model calls/edit |\n"
             "|---|---|---|---|---|---|---|---|\n" + "\n".join(
                 f"| {r['operator']} | {r['knob']} {r['value']:g} | {100 * r['success']:.1f} | {r['mse']:.4f} | "
                 f"{r['ssim']:.3f} | {r['background_mse']:.4f} | {r['identity_error_pct']:.2f} | "
                 f"{r['model_calls']} |" for r in rows))
    return head + table + "\n\n" + "\n".join(f"- {line}" for line in goals(rows))


def pareto_plot(rows: list[dict], path: Path) -> Path:
    """Success (%) against MSE and against 1 - SSIM, one line per operator along its knob."""
    from ._plots import line_chart, save_grid

    names = list(dict.fromkeys(r["operator"] for r in rows))
    dashed = {r["operator"] for r in rows if r["baseline"]}

    def series(x_of) -> dict[str, list[tuple[float, float]]]:
        return {n: [(x_of(r), 100 * r["success"]) for r in rows if r["operator"] == n] for n in names}
    panels = [line_chart("edit success vs distance to the source", series(lambda r: r["mse"]), "pixel MSE",
                         "success %", log_y=False, dashed=dashed),
              line_chart("edit success vs structural change", series(lambda r: 1 - r["ssim"]), "1 - SSIM",
                         "success %", log_y=False, dashed=dashed)]
    return save_grid(panels, path, columns=2)
