"""The data report: what went into training, printed and saved before any training starts."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainer.data.labels import LabelMap
    from trainer.data.spec import DataSpec
    from trainer.data.splits import SplitRows


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
        return "\n".join(lines)


def build_report(
    spec: DataSpec, label_map: LabelMap, splits: dict[str, SplitRows], dropped: dict[str, dict[str, int]]
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
        policies={"duplicate": spec.on_duplicate, "leakage": spec.on_leakage, "empty_text": spec.on_empty_text},
    )
