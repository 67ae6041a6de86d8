"""Conformance vectors written at export: what any runtime serving the bundle must reproduce, stage by stage.

``conformance.json`` lists raw texts and, computed here from the exported graphs with the Python
predictor (one text per session call), the normalised text, the token ids and, for every graph the
bundle ships, the logits, scores, decision and the decision's margin, with a tolerance per graph.
The texts cover every normaliser rule the run has on (each vector says which rules change it: a rule
that no vector exercises stops the export), every language of the run's test split (its first rows,
as training saw them: already normalised, so handles and links are masked), an empty text and one
longer than ``max_length``. :func:`trainer.serving.conformance.check_conformance` replays them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from trainer.data.normalize import NORMALIZER_VERSION, NormalizerConfig, normalize_text
from trainer.serving.bundle import Bundle
from trainer.serving.conformance import CONFORMANCE_FORMAT, decision_of, margin
from trainer.serving.precisions import PRECISIONS
from trainer.serving.predictor import BundlePredictor, scores_from_logits

# Per graph: how far another correct runtime's logits and scores may be (other onnxruntime builds, CPUs).
TOLERANCES = {"fp32": (1e-4, 1e-4), "int8": (1e-2, 5e-3), "fp16": (1e-2, 5e-3)}
ROWS_PER_LANGUAGE = 2


def rule_texts(cfg: NormalizerConfig) -> list[tuple[str, str]]:
    """(name, raw text) exercising each normaliser rule, with the run's own placeholder word."""
    word = cfg.user_placeholder
    return [
        ("escaped_bytes", r"so funny \xf0\x9f\x98\x82\xf0\x9f\x98\x82 and invalid \xff\xfe kept"),
        ("truncated_tail", r"cut off mid-emoji \xf0\x9f\x98"),
        ("truncated_tail_partial_escape", r"cut off mid-escape \xe2\x80\x9"),
        ("utf16_escapes", r"quote \u201chi\u201d \ud83d\ude02 and a lone \ud83d surrogate"),
        ("literal_newline_and_tab", r"line one\nline two\rthree\tend"),
        ("nfc", "cafe\u0301 man\u0303ana A\u030a"),
        ("zero_width", "zero\u200bwidth\u00adsoft\ufeffbom family \U0001f468\u200d\U0001f469\u200d\U0001f467 a\u200db"),
        ("url_mask", "see https://example.com/x?y=1 and WWW.example.org/page now"),
        ("user_mask", "hi @someone and @other_user, mail a@b.c"),
        ("user_runs", f"{word} {word} {word} hello @someone @other: bye {word}NAME stays"),
        ("whitespace", "  lots   of\t\tspace \n\n\n  and\u3000lines \u00a0 end  "),
        ("case", "MiXeD CaSe \u00c0\u00c9\u00ce \u03a3\u0391\u03a3 stra\u00dfe"),
        ("empty", ""),
        ("whitespace_only", " \n\t "),
    ]


def long_text(max_length: int) -> str:
    """A text of more than ``max_length`` tokens for any subword vocabulary (>= 4 words per token slot)."""
    return "The quick brown fox jumps over the lazy dog. " * (max_length // 2 + 1)


# Neutral sentences per language: real posts are sensitive (often extremist) and should not travel inside
# every bundle, so a run's language is covered by one of these where we have it (serving.smoke's rule too).
NEUTRAL_TEXTS = {
    "id": ("Pemerintah mengadakan rapat tentang cuaca minggu depan.", "Pasar buka jam tujuh pagi."),
    "ms": ("Mesyuarat majlis bandaran akan diadakan pada hari Isnin.", "Kedai itu dibuka setiap hari."),
    "tl": ("Ang pulong ng barangay ay gaganapin bukas ng umaga.", "Maaraw ang panahon ngayon."),
    "th": ("การประชุมเรื่องสภาพอากาศจะจัดขึ้นในสัปดาห์หน้า", "ร้านเปิดทุกวันตอนเช้า"),
    "my": ("မနက်ဖြန် ရာသီဥတု အစည်းအဝေး ရှိပါမည်။", "ဈေးသည် မနက် ခုနစ်နာရီတွင် ဖွင့်သည်။"),
    "ar": ("سيعقد اجتماع حول الطقس الأسبوع المقبل.", "يفتح السوق في السابعة صباحا."),
    "en": ("The council meets on Monday to discuss the weather.", "The market opens at seven."),
    "de": ("Der Gemeinderat trifft sich am Montag wegen des Wetters.", "Der Markt öffnet um sieben Uhr."),
    "fr": ("Le conseil se réunit lundi pour parler de la météo.", "Le marché ouvre à sept heures."),
}


def language_texts(texts: Sequence[str], langs: Sequence[str], per_language: int) -> list[tuple[str, str, str]]:
    """(name, language, text) for every language of the test split, languages sorted.

    A language with neutral sentences in :data:`NEUTRAL_TEXTS` gets those; only a language without them
    falls back to its first ``per_language`` test rows (named ``lang_<code>_row<i>`` so a reader sees it).
    """
    picked: dict[str, list[str]] = {}
    for text, lang in zip(texts, langs, strict=True):
        if lang not in NEUTRAL_TEXTS and len(picked.setdefault(lang, [])) < per_language:
            picked[lang].append(text)
    out = [
        (f"lang_{lang}_{i}", lang, t)
        for lang in sorted(set(langs) & NEUTRAL_TEXTS.keys())
        for i, t in enumerate(NEUTRAL_TEXTS[lang][:per_language])
    ]
    out += [(f"lang_{lang}_row{i}", lang, t) for lang in sorted(picked) for i, t in enumerate(picked[lang])]
    return out


def covered_rules(raw: str, cfg: NormalizerConfig) -> list[str]:
    """The switches of ``cfg`` that change this text: turned off one at a time, the output differs."""
    out = normalize_text(raw, cfg)
    switches = [f.name for f in fields(cfg) if isinstance(getattr(cfg, f.name), bool) and getattr(cfg, f.name)]
    off: dict[str, Any] = {name: False for name in switches}
    return [name for name in switches if normalize_text(raw, replace(cfg, **{name: off[name]})) != out]


def graph_outputs(predictor: BundlePredictor, ids: list[int]) -> dict[str, Any]:
    """Logits, scores, decision and margin of one row of token ids on one graph (batch of one)."""
    logits = predictor.session.run(["logits"], predictor.feeds([ids]))[0][0]
    probs = scores_from_logits(logits[None, :], predictor.label_map.task, predictor.temperature)[0]
    return {
        "logits": [float(v) for v in logits],
        "scores": [float(v) for v in probs],
        "decision": decision_of(probs, predictor),
        "margin": margin(probs, predictor),
    }


def _vector(name: str, lang: str | None, raw: str, predictors: dict[str, BundlePredictor]) -> dict[str, Any]:
    first = next(iter(predictors.values()))
    normalized = normalize_text(raw, first.normalizer)
    ids = list(first.encode([normalized], normalize=False)[0])
    return {
        "name": name,
        "lang": lang,
        "covers": covered_rules(raw, first.normalizer),
        "raw": raw,
        "normalized": normalized,
        "token_ids": ids,
        "truncated": len(ids) >= first.max_length,
        "outputs": {precision: graph_outputs(p, ids) for precision, p in predictors.items()},
    }


def check_coverage(vectors: list[dict[str, Any]], cfg: NormalizerConfig, max_length: int) -> None:
    """Every rule that is on changes some vector, and one vector is truncated: else the vectors prove less."""
    on = {f.name for f in fields(cfg) if isinstance(getattr(cfg, f.name), bool) and getattr(cfg, f.name)}
    missing = sorted(on - {rule for v in vectors for rule in v["covers"]})
    if missing:
        raise ValueError(
            f"conformance vectors exercise no text for normalizer rule(s) {missing}: add one to rule_texts"
        )
    if not any(v["truncated"] for v in vectors):
        raise ValueError(f"no conformance vector reaches max_length={max_length}")


def write_conformance(
    bundle_dir: Path, test_texts: Sequence[str], test_langs: Sequence[str], per_language: int = ROWS_PER_LANGUAGE
) -> dict[str, Any]:
    """Write ``conformance.json`` from every graph the bundle holds (before the manifest, which checksums it)."""
    bundle = Bundle(Path(bundle_dir))
    predictors = {
        name: BundlePredictor(bundle.path, name, threads=1)
        for name, precision in PRECISIONS.items()
        if bundle.graph(precision).is_file()
    }
    first = next(iter(predictors.values()))
    cfg, max_length = first.normalizer, first.max_length
    texts: list[tuple[str, str | None, str]] = [(name, None, raw) for name, raw in rule_texts(cfg)]
    texts.append(("longer_than_max_length", None, long_text(max_length)))
    texts += language_texts(test_texts, test_langs, per_language)
    vectors = [_vector(name, lang, raw, predictors) for name, lang, raw in texts]
    check_coverage(vectors, cfg, max_length)
    data = {
        "format": CONFORMANCE_FORMAT,
        "normalizer_version": NORMALIZER_VERSION,
        "max_length": max_length,
        "task": first.label_map.task,
        "labels": list(first.label_map.names),
        "graphs": {
            name: {
                "graph": PRECISIONS[name].graph,
                "atol_logits": TOLERANCES[name][0],
                "atol_scores": TOLERANCES[name][1],
            }
            for name in predictors
        },
        "decision_tolerance": "a decision may differ only where the vector's margin <= the graph's atol_scores",
        "vectors": vectors,
    }
    bundle.write_conformance(data)
    return data
