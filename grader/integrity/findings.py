"""Flags and their ranking: what `grader integrity` tells the instructor, as data.

A flag never accuses: it says what was compared, what was found and how strong the evidence
is, and that the pair is worth a look. Pairs are ranked by strength of evidence: strong flags
first, then the number of flags, then the evidence itself (a number from 0 to 1 per kind, so
unflagged pairs are ordered too, in integrity.csv).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Sequence

from grader.integrity.code import CodeMatch, Document
from grader.integrity.models import ModelMatch, OwnWeights
from grader.integrity.predictions import Agreement, PublicOrder, SharedErrors

Kind = Literal["code", "source", "model", "predictions", "agreement", "public-order", "weights"]
Strength = Literal["strong", "moderate"]


@dataclass(frozen=True)
class Thresholds:
    """When evidence becomes a flag. Defaults are set so an honest class raises none."""

    code: float = 0.5               # share of either student's own code (starter removed) that
    #                                 matches: half a submission is not a coincidence
    code_strong: float = 0.8
    log10_p: float = -3.0           # p-value after multiplying by the number of pairs
    #                                 (Bonferroni): 1 in 1,000 for the whole class
    log10_p_strong: float = -10.0
    ratio: float = 1.5              # shared errors at least this many times the expected count
    chance_margin: float = 0.05     # "at chance": within 5 points of the chance accuracy
    public_above: float = 0.2       # "far above chance": 20 points above it, and p < 1e-10


@dataclass(frozen=True)
class Flag:
    kind: Kind
    strength: Strength
    compared: str                   # what was compared, and how
    evidence: str                   # what was found, with its numbers

    @property
    def summary(self) -> str:
        return f"{self.kind} ({self.strength})"


@dataclass(frozen=True)
class PairFinding:
    """Everything found about one pair: two students, or a student and a public source."""

    a: str
    b: str
    code: CodeMatch | None = None
    models: tuple[ModelMatch, ...] = ()
    shared: SharedErrors | None = None
    agreement: Agreement | None = None
    flags: tuple[Flag, ...] = ()

    @property
    def evidence(self) -> float:
        """0..1: the strongest evidence of any kind, flagged or not."""
        values = [0.0]
        if self.code is not None:
            values.append(self.code.similarity)
        values += [m.similarity for m in self.models]
        for stat in (self.shared, self.agreement):
            if stat is not None:
                values.append(min(1.0, max(0.0, -stat.log10_p) / 30))
        return max(values)

    @property
    def rank_key(self) -> tuple:
        strong = sum(f.strength == "strong" for f in self.flags)
        return (-strong, -len(self.flags), -self.evidence, self.a, self.b)


@dataclass(frozen=True)
class StudentFinding:
    """One student's own evidence: predictions made in the public order, or a predictions.csv
    that the student's own weights do not give."""

    student: str
    public: PublicOrder | None = None
    flags: tuple[Flag, ...] = ()
    weights: tuple[OwnWeights, ...] = ()    # the checkpoints that disagree with predictions.csv


@dataclass(frozen=True)
class IntegrityReport:
    """The whole class's findings."""

    assignment: str
    course: str
    title: str
    created: str                    # ISO 8601
    grader_version: str
    students: tuple[str, ...]
    compared: tuple[str, ...]       # one line per kind of evidence: what and how
    notes: tuple[str, ...]          # what could not be compared, and why
    pairs: tuple[PairFinding, ...]  # every pair with any evidence, ranked
    students_flagged: tuple[StudentFinding, ...]
    similarity: tuple[tuple[float, ...], ...] = field(default=())  # code, N x N
    thresholds: Thresholds = Thresholds()
    documents: tuple[Document, ...] = ()   # the code of everyone in a flagged code pair

    def document(self, owner: str) -> Document | None:
        return next((d for d in self.documents if d.owner == owner), None)

    @property
    def flagged(self) -> tuple[PairFinding, ...]:
        return tuple(p for p in self.pairs if p.flags)


def _percent(x: float) -> str:
    return f"{100 * x:.0f}%"


def p_text(log10_p: float) -> str:
    """A p-value for a sentence: 'p = 0.03', 'p = 2e-12', 'p < 1e-300'."""
    if log10_p == -math.inf or log10_p < -300:
        return "p < 1e-300"
    if log10_p > -3:
        return f"p = {10 ** log10_p:.2g}"
    exponent = math.floor(log10_p)
    mantissa = 10 ** (log10_p - exponent)
    return f"p = {mantissa:.1f}e{exponent}"


def code_flag(match: CodeMatch, t: Thresholds, *, common_max: int, source: bool) -> Flag | None:
    if match.similarity < t.code:
        return None
    what = "a public source" if source else "each other's"
    compared = (f"code cells and .py files against {what} with copydetect (names and literals "
                f"ignored, starter code and code common to more than {common_max} students "
                "removed)")
    evidence = (f"{_percent(match.similarity_a)} of {match.a}'s code and "
                f"{_percent(match.similarity_b)} of {match.b}'s match "
                f"({match.matched_chars:,} filtered characters; {len(match.regions_a)} regions "
                f"in {match.a}'s files and cells, {len(match.regions_b)} in {match.b}'s); "
                "worth a look")
    strength: Strength = "strong" if match.similarity >= t.code_strong else "moderate"
    return Flag("source" if source else "code", strength, compared, evidence)


def model_flag(match: ModelMatch) -> Flag:
    layers = len(match.layers_a)
    params = f"{match.params_a:,}" if match.params_a is not None else "?"
    compared = (f"{match.title}: the layer sequence (types, weight and output shapes, "
                "parameter counts; names ignored) as grader check measured it")
    if match.identical:
        evidence = (f"identical: {layers} layers, {params} parameters"
                    + (f", a design {match.group} students share" if match.group > 2 else "")
                    + "; free design, so worth a look")
        return Flag("model", "strong", compared, evidence)
    evidence = (f"nearly identical: {_percent(match.similarity)} of the layer sequence matches, "
                f"{params} and {match.params_b or 0:,} parameters; worth a look")
    return Flag("model", "moderate", compared, evidence)


def shared_flag(stat: SharedErrors, t: Thresholds, pairs: int) -> Flag | None:
    adjusted = stat.log10_p + math.log10(max(pairs, 1))
    if stat.null != "class":    # too few files to know which images are hard: honest models
        return None             # share their hard images, and this null would call it copying
    if adjusted > t.log10_p or stat.shared < t.ratio * stat.expected or stat.shared < 10:
        return None
    null = ("independent models of their accuracy that find the same images hard as the rest "
            "of the class")
    compared = f"wrong answers in predictions.csv against the held-out labels ({stat.images:,} images)"
    evidence = (f"{stat.shared:,} images wrong with the same wrong label, {stat.expected:,.0f} "
                f"expected for {null} ({stat.errors_a:,} and {stat.errors_b:,} errors; "
                f"{p_text(stat.log10_p)}, {pairs:,} pairs compared); worth a look")
    strength: Strength = "strong" if adjusted <= t.log10_p_strong else "moderate"
    return Flag("predictions", strength, compared, evidence)


def agreement_flag(stat: Agreement, t: Thresholds, pairs: int) -> Flag | None:
    adjusted = stat.log10_p + math.log10(max(pairs, 1))
    if adjusted > t.log10_p or stat.disagree * t.ratio > stat.expected:
        return None
    compared = (f"predictions.csv label by label ({stat.images:,} images, no held-out labels), "
                "against the disagreement usual in this class for the students' accuracies")
    evidence = (f"they differ on {stat.disagree:,} images where {stat.expected:,.0f} are expected "
                f"(accuracies {_percent(stat.accuracy_a)} and {_percent(stat.accuracy_b)}; "
                f"{p_text(stat.log10_p)}); worth a look")
    strength: Strength = "strong" if adjusted <= t.log10_p_strong else "moderate"
    return Flag("agreement", strength, compared, evidence)


def public_flag(stat: PublicOrder, t: Thresholds) -> Flag | None:
    at_chance = stat.accuracy_secret <= stat.chance + t.chance_margin
    far_above = (stat.accuracy_public >= stat.chance + t.public_above
                 and stat.log10_p_public <= -10)
    if not (at_chance and far_above):
        return None
    compared = ("predictions.csv against the held-out labels in the secret order and against the "
                "same images' labels in the public order")
    evidence = (f"{_percent(stat.accuracy_secret)} in the secret order, at chance "
                f"({_percent(stat.chance)}), but {_percent(stat.accuracy_public)} in the public "
                f"order ({p_text(stat.log10_p_public)} by chance): predictions made on the public "
                "test set; worth a look")
    return Flag("public-order", "strong", compared, evidence)


# Below this agreement the weights' labels are not much like the file's at all: other weights,
# not a late fine-tuning step, made it.
WEIGHTS_STRONG = 0.5


def weights_flag(stat: OwnWeights, threshold: float) -> Flag | None:
    """The student's own checkpoint gives other labels than their predictions.csv: the same
    weights give the same labels, so the file came from other weights (an earlier model, the
    pretrained one, or someone else's). `threshold`: the spec's [weights] agreement."""
    if stat.agreement is None or stat.compared <= 0 or stat.agreement >= threshold:
        return None
    compared = (f"{stat.title}: the labels the weights handed in ({stat.file}) give the held-out "
                f"images, as grader evaluate predicted them, against predictions.csv "
                f"({stat.compared:,} images)")
    evidence = (f"the same label on {100 * stat.agreement:.1f}% of the images, below the "
                f"assignment's {100 * threshold:.0f}% ([weights] agreement): the same weights "
                "give the same labels, so predictions.csv was made with other weights; worth "
                "a look")
    strength: Strength = "strong" if stat.agreement < WEIGHTS_STRONG else "moderate"
    return Flag("weights", strength, compared, evidence)


def weights_findings(own: Sequence[OwnWeights], threshold: float) -> list[StudentFinding]:
    """One finding per student whose own checkpoints (one or more models) give other labels
    than their predictions.csv, in the students' order."""
    found: dict[str, list[tuple[OwnWeights, Flag]]] = {}
    for stat in own:
        flag = weights_flag(stat, threshold)
        if flag is not None:
            found.setdefault(stat.student, []).append((stat, flag))
    return [StudentFinding(student, flags=tuple(f for _, f in items),
                           weights=tuple(s for s, _ in items))
            for student, items in sorted(found.items())]
