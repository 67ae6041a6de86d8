"""The comparison report of :mod:`trainer.compare`: markdown, self-contained HTML and PNG figures.

Both documents are rendered from one list of sections (heading, text lines, tables, figures), so they
never disagree. The HTML embeds every figure as a base64 PNG: it opens anywhere, including as an
MLflow artifact, with no file beside it. Figures are built without pyplot (see :mod:`trainer.scoring.figures`).
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from trainer.serving.precisions import REDUCED

# cost key (RunEvidence.costs) -> (column title, format); one size and one latency column per reduced
# precision of the table, so a new precision gets its columns here without an edit.
COST_COLUMNS = {
    "train_time_s": ("train time (s)", "{:.1f}"),
    "train_samples_per_s": ("samples/s", "{:.1f}"),
    "model_mb": ("model MB", "{:.1f}"),
    **{
        key: column
        for p in REDUCED
        for key, column in (
            (p.size_column, (f"{p.label} MB", "{:.1f}")),
            (p.latency_column, (f"{p.label} latency ms (p50, batch 1)", "{:.2f}")),
        )
    },
}
_GOOD, _BAD, _NEUTRAL = "tab:green", "tab:red", "tab:gray"


@dataclass
class Section:
    heading: str
    lines: list[str] = field(default_factory=list)
    table: tuple[list[str], list[list[str]]] | None = None
    figures: list[str] = field(default_factory=list)


def _ci(v: dict[str, float]) -> str:
    return f"{v['value']:.3f} [{v['low']:.3f}, {v['high']:.3f}]"


def _name(result: dict[str, Any], run_id: str) -> str:
    return f"{result['runs'][run_id]['name']} ({run_id[:8]})"


# -- figures ------------------------------------------------------------------------------------------
def metric_figure(result: dict[str, Any]) -> Figure:
    """The first chosen metric of every run with its bootstrap interval."""
    metric = result["metrics"][0]
    ids = list(result["runs"])
    values = [result["runs"][r]["metrics"][metric] for r in ids]
    fig = Figure(figsize=(7.0, 1.2 + 0.45 * len(ids)), layout="constrained")
    ax = fig.subplots()
    y = list(range(len(ids)))
    colors = [
        _NEUTRAL if r == result["baseline"] or result["comparisons"].get(r, {}).get("shared") else _BAD for r in ids
    ]
    ax.barh(y, [v["value"] for v in values], color=colors, alpha=0.6)
    ax.errorbar(
        [v["value"] for v in values],
        y,
        fmt="none",
        ecolor="black",
        capsize=4,
        xerr=[[v["value"] - v["low"] for v in values], [v["high"] - v["value"] for v in values]],
    )
    ax.set_yticks(y, [_name(result, r) + (" *baseline" if r == result["baseline"] else "") for r in ids])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"{metric} ({result['stats']['confidence']:.0%} bootstrap interval; red: other test set)")
    return fig


def language_figure(result: dict[str, Any]) -> Figure:
    """The main metric per language, one bar per run, with intervals."""
    metric = result["metrics"][0]
    ids = list(result["runs"])
    langs = sorted({lang for r in ids for lang in result["runs"][r]["languages"]})
    fig = Figure(figsize=(max(6.0, 1.1 * len(langs) + 2), 4.2), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / max(len(ids), 1)
    for j, run_id in enumerate(ids):
        per = result["runs"][run_id]["languages"]
        xs = [i + (j - (len(ids) - 1) / 2) * width for i, lang in enumerate(langs) if lang in per]
        vals = [per[lang] for lang in langs if lang in per]
        ax.bar(xs, [v["value"] for v in vals], width=width * 0.95, label=_name(result, run_id), alpha=0.8)
        ax.errorbar(
            xs,
            [v["value"] for v in vals],
            fmt="none",
            ecolor="black",
            capsize=2,
            yerr=[[v["value"] - v["low"] for v in vals], [v["high"] - v["value"] for v in vals]],
        )
    ax.set_xticks(range(len(langs)), langs)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(metric)
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=min(len(ids), 3))
    ax.set_title(f"{metric} per language")
    return fig


def delta_figure(result: dict[str, Any], run_id: str) -> Figure:
    """Forest plot of one run's deltas against the baseline: languages and classes, significant in colour."""
    pair = result["comparisons"][run_id]
    fig = Figure(figsize=(10.0, 1.5 + 0.35 * max(len(pair["languages"]), len(pair["classes"]))), layout="constrained")
    for ax, rows, title in zip(
        fig.subplots(1, 2),
        (pair["languages"], pair["classes"]),
        (f"{result['metrics'][0]} by language", "F1 by class"),
        strict=True,
    ):
        rows = [r for r in rows if r["tested"]]
        y = list(range(len(rows)))
        for i, r in enumerate(rows):
            color = (_GOOD if r["direction"] == "better" else _BAD) if r["significant"] else _NEUTRAL
            ax.errorbar(
                [r["delta"]],
                [i],
                xerr=[[r["delta"] - r["low"]], [r["high"] - r["delta"]]],
                fmt="o",
                color=color,
                capsize=3,
            )
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(y, [f"{r['key']} (n={r['n']})" for r in rows])
        ax.invert_yaxis()
        ax.set_xlabel("delta (run - baseline)")
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"{_name(result, run_id)} vs baseline {_name(result, result['baseline'])}")
    return fig


# -- sections -----------------------------------------------------------------------------------------
def _fmt(value: float | None, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def _intro(result: dict[str, Any]) -> list[Section]:
    s = result["stats"]
    intro = Section(
        f"Comparison on {result['split']}: baseline {_name(result, result['baseline'])}",
        [
            f"{len(result['runs'])} runs; metrics {', '.join(result['metrics'])}; {s['confidence']:.0%} bootstrap "
            f"intervals ({s['n_boot']} resamples, seed {s['seed']}); deltas by paired bootstrap on shared rows, "
            f"significance at alpha={s['alpha']} ({s['test']} per language, correction {s['correction']}, "
            f"languages with fewer than {s['min_language_rows']} rows not tested)."
        ],
    )
    findings = Section(
        "Significant differences",
        [f"- {line}" for line in result["statements"]] or ["No significant difference against the baseline."],
    )
    return [intro, findings]


def _left_out(result: dict[str, Any]) -> list[Section]:
    """Runs on other test sets (their numbers, no delta) and runs without predictions."""
    sections = []
    if result["not_compared"]:
        sections.append(
            Section(
                "Not compared: different test sets",
                ["These runs were not scored on the baseline's rows; their numbers stand alone, with no delta."],
                (["run", "reason"], [[_name(result, k), v] for k, v in result["not_compared"].items()]),
            )
        )
    if result.get("skipped"):
        sections.append(
            Section(
                f"Skipped: no {result['split']} predictions",
                [],
                (["run", "reason"], [[f"{v['name']} ({k[:8]})", v["reason"]] for k, v in result["skipped"].items()]),
            )
        )
    return sections


def _metrics_section(result: dict[str, Any]) -> Section:
    metrics = result["metrics"]
    header = ["run", "rows", *[f"{m} [CI]" for m in metrics], *[c[0] for c in COST_COLUMNS.values()]]
    rows = [
        [
            _name(result, r) + (" (baseline)" if r == result["baseline"] else ""),
            str(v["rows"]),
            *[_ci(v["metrics"][m]) for m in metrics],
            *[_fmt(v["costs"].get(k), pattern) for k, (_, pattern) in COST_COLUMNS.items()],
        ]
        for r, v in result["runs"].items()
    ]
    return Section("Metrics", [], (header, rows), ["metrics.png"])


def _language_section(result: dict[str, Any]) -> Section:
    runs = result["runs"]
    langs = sorted({lang for v in runs.values() for lang in v["languages"]})
    rows = [
        [
            lang,
            *[
                _ci(runs[r]["languages"][lang]) + f" n={runs[r]['languages'][lang]['n']}"
                if lang in runs[r]["languages"]
                else "-"
                for r in runs
            ],
        ]
        for lang in langs
    ]
    return Section(
        f"{result['metrics'][0]} per language [CI]",
        [],
        (["language", *[_name(result, r) for r in runs]], rows),
        ["per_language.png"],
    )


_DELTA_HEADER = ["scope", "key", "n", "baseline", "run", "delta [CI]", "p bootstrap", "p McNemar", "significant"]


def _delta_cells(r: dict[str, Any]) -> list[str]:
    if not r.get("tested", True):
        return [r["scope"], r["key"], str(r["n"]), "", "", "not tested (too few rows)", "", "", ""]
    return [
        r["scope"],
        r["key"] if r["scope"] != "overall" else r["metric"],
        str(r["n"]),
        f"{r['baseline']:.3f}",
        f"{r['run']:.3f}",
        f"{r['delta']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}]",
        f"{r['p_bootstrap']:.4f}",
        "" if r["p_mcnemar"] is None else f"{r['p_mcnemar']:.4f}",
        f"**{r['direction']}** (p={r['p_adjusted']:.4f})" if r["significant"] else "no",
    ]


def _pair_section(result: dict[str, Any], run_id: str, pair: dict[str, Any]) -> Section:
    rows = [_delta_cells(r) for r in [*pair["overall"], *pair["languages"], *pair["classes"]]]
    return Section(
        f"{_name(result, run_id)} against the baseline ({pair['reason']})",
        [],
        (_DELTA_HEADER, rows),
        [f"delta_{run_id[:8]}.png"],
    )


def build_sections(result: dict[str, Any]) -> list[Section]:
    """The report, in order: intro and findings, runs left out, metrics, per language, one per delta."""
    pairs = [_pair_section(result, k, pair) for k, pair in result["comparisons"].items() if pair["shared"]]
    return [*_intro(result), *_left_out(result), _metrics_section(result), _language_section(result), *pairs]


def report_tags(result: dict[str, Any]) -> dict[str, str]:
    """Tags of the report's MLflow run: what was compared with what."""
    compared = [k for k in result["runs"] if k != result["baseline"]]
    return {
        "entry_point": "trainer.compare",
        "baseline_run_id": result["baseline"],
        "compared_run_ids": ",".join(compared)[:5000],
        "split": result["split"],
        "not_compared": ",".join(result["not_compared"])[:5000],
    }


def report_metrics(result: dict[str, Any]) -> dict[str, float]:
    return {
        "significant_deltas": float(len(result["statements"])),
        "runs_not_compared": float(len(result["not_compared"])),
    }


# -- rendering ----------------------------------------------------------------------------------------
def to_markdown(sections: list[Section]) -> str:
    out = []
    for i, sec in enumerate(sections):
        out += [("# " if i == 0 else "## ") + sec.heading, "", *sec.lines]
        if sec.table:
            header, rows = sec.table
            out += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        out += [f"\n![{name}](figures/{name})" for name in sec.figures]
        out.append("")
    return "\n".join(out)


def _inline(cell: str) -> str:
    text = html.escape(cell)
    return text.replace("**", "<b>", 1).replace("**", "</b>", 1) if text.count("**") == 2 else text


def to_html(sections: list[Section], figures: dict[str, bytes]) -> str:
    body = []
    for i, sec in enumerate(sections):
        body.append(f"<h{1 if i == 0 else 2}>{html.escape(sec.heading)}</h{1 if i == 0 else 2}>")
        items = [line[2:] for line in sec.lines if line.startswith("- ")]
        if items:
            body.append("<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in items) + "</ul>")
        body += [f"<p>{html.escape(line)}</p>" for line in sec.lines if not line.startswith("- ")]
        if sec.table:
            header, rows = sec.table
            body.append(
                "<table><tr>"
                + "".join(f"<th>{html.escape(h)}</th>" for h in header)
                + "</tr>"
                + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in rows)
                + "</table>"
            )
        for name in sec.figures:
            data = base64.b64encode(figures[name]).decode("ascii")
            body.append(f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{data}"></figure>')
    style = (
        "body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
        "font-size:13px;text-align:left}th{background:#f3f3f3}img{max-width:100%}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(sections[0].heading)}</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


def write_report(result: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """``report.md``, ``report.html``, ``comparison.json`` and ``figures/*.png`` in ``out_dir``."""
    figure_dir = out_dir / "figures"
    figure_dir.mkdir(parents=True, exist_ok=True)
    figures = {"metrics.png": metric_figure(result), "per_language.png": language_figure(result)}
    for run_id, pair in result["comparisons"].items():
        if pair["shared"]:
            figures[f"delta_{run_id[:8]}.png"] = delta_figure(result, run_id)
    png = {}
    for name, fig in figures.items():
        fig.savefig(figure_dir / name, dpi=100)
        png[name] = (figure_dir / name).read_bytes()
    sections = build_sections(result)
    paths = {"markdown": out_dir / "report.md", "html": out_dir / "report.html", "json": out_dir / "comparison.json"}
    paths["markdown"].write_text(to_markdown(sections), encoding="utf-8")
    paths["html"].write_text(to_html(sections, png), encoding="utf-8")
    paths["json"].write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return paths
