"""The data report: what went into training, printed and saved before any training starts."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.data.splits import matching_rule

if TYPE_CHECKING:
    from trainer.data.labels import LabelMap
    from trainer.data.spec import DataSpec
    from trainer.data.splits import Overlaps, SplitRows


@dataclass
class DataReport:
    dataset: str
    task: str
    labels: list[str]
    rows: dict[str, int]
    label_counts: dict[str, dict[str, int]]
    language_counts: dict[str, dict[str, int]]
    dropped: dict[str, dict[str, int]]
    policies: dict[str, str]
    # Copies found per split and kind (duplicate / leakage), dropped or kept by the policies.
    copies: dict[str, dict[str, int]] = field(default_factory=dict)
    # Copies whose label differs from the kept copy's: {"count": {split: {kind: n}}, "examples": [...]}.
    label_conflicts: dict[str, Any] = field(default_factory=dict)
    # How copies are matched (normalised text, casefold, whitespace) and which copy is kept.
    matching_rule: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    def format(self) -> str:
        """A plain-text table for the console and the run log."""
        splits = list(self.rows)
        langs = sorted({lang for s in splits for lang in self.language_counts[s]})
        reasons = sorted({r for s in splits for r in self.dropped.get(s, {})})
        width = max(
            [len("label " + x) for x in self.labels]
            + [len("dropped " + r) for r in reasons]
            + [len("lang " + x) for x in langs]
            + [12]
        )
        lines = [f"data report: {self.dataset} ({self.task}, {len(self.labels)} labels)"]
        lines.append(f"  {'':<{width}} " + " ".join(f"{s:>10}" for s in splits))
        lines.append(f"  {'rows':<{width}} " + " ".join(f"{self.rows[s]:>10}" for s in splits))
        for name in self.labels:
            lines.append(
                f"  {'label ' + name:<{width}} " + " ".join(f"{self.label_counts[s].get(name, 0):>10}" for s in splits)
            )
        for lang in langs:
            lines.append(
                f"  {'lang ' + lang:<{width}} "
                + " ".join(f"{self.language_counts[s].get(lang, 0):>10}" for s in splits)
            )
        for reason in reasons:
            lines.append(
                f"  {'dropped ' + reason:<{width}} " + " ".join(f"{self.dropped[s].get(reason, 0):>10}" for s in splits)
            )
        if not reasons:
            lines.append("  dropped rows: none")
        for kind in sorted({k for s in splits for k in self.copies.get(s, {})}):
            lines.append(
                f"  {'found ' + kind:<{width}} " + " ".join(f"{self.copies[s].get(kind, 0):>10}" for s in splits)
            )
        conflicts = self.label_conflicts.get("count", {})
        total = sum(n for kinds in conflicts.values() for n in kinds.values())
        if total:
            lines.append(f"  {total} copies have another label than the kept copy, e.g.:")
            lines += [
                f"    {e['split']} {e['where']}: {e['label']!r} (kept in {e['kept_split']}: {e['kept_label']!r})"
                for e in self.label_conflicts.get("examples", [])
            ]
        policies = ", ".join(f"{k}={v}" for k, v in self.policies.items())
        lines.append(f"  policies: {policies}")
        return "\n".join(lines)


def policies(spec: DataSpec) -> dict[str, str]:
    """The row policies in effect (the strategy's defaults filled in)."""
    out = {
        "duplicate": spec.duplicate_policy("train"),
        "leakage": spec.leakage_policy(),
        "empty_text": spec.on_empty_text,
        "empty_label": spec.on_empty_label,
    }
    if spec.duplicate_policy("test") != out["duplicate"]:
        out["duplicate_in_test"] = spec.duplicate_policy("test")
    return out


def build_report(
    spec: DataSpec,
    label_map: LabelMap,
    splits: dict[str, SplitRows],
    dropped: dict[str, dict[str, int]],
    overlaps: Overlaps | None = None,
) -> DataReport:
    label_counts: dict[str, dict[str, int]] = {}
    language_counts: dict[str, dict[str, int]] = {}
    for split, rows in splits.items():
        counter: Counter[str] = Counter()
        # Counted per distinct raw label (a handful), not per row: a million rows count in milliseconds.
        for raw, n in Counter(rows.raw_labels).items():
            for name in raw if isinstance(raw, tuple) else (raw,):
                counter[name] += n
        label_counts[split] = {n: counter.get(n, 0) for n in label_map.names}
        language_counts[split] = dict(sorted(Counter(rows.langs).items()))
    return DataReport(
        dataset=spec.name,
        task=spec.task,
        labels=list(label_map.names),
        rows={s: len(r) for s, r in splits.items()},
        label_counts=label_counts,
        language_counts=language_counts,
        dropped={s: dict(sorted(d.items())) for s, d in dropped.items()},
        policies=policies(spec),
        copies={s: dict(sorted(overlaps.found[s].items())) for s in splits} if overlaps else {},
        label_conflicts={"count": overlaps.conflicts, "examples": overlaps.examples} if overlaps else {},
        matching_rule=matching_rule(spec),
    )
