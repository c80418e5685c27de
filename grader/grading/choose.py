"""Choosing, among the probed candidates, the one each model is graded on, and saying why.

Models are served in the spec's order; a build graded for one model is not graded again for
another. For each model the candidates compare by, in order:

1. the file: in a file the spec names for this model, else in a file named for no model,
   else in another model's file;
2. checks outrank names: a candidate that passes every check of the model (builds, forward,
   params, weighted layers, BatchNorm) beats one that fails any, whatever their names (the Lab
   2 notebook that keeps the template's plain `SimpleNN` beside the student's `BatchNormNN`
   is graded on `BatchNormNN`), and the reason names both;
3. the name: an accepted name, else a name that points at the model, else none (such a
   candidate is taken only when its parameter count fits the spec: a name alone is not
   enough, and no name is not enough either);
4. the fit: how many of the spec's checks it passes once built;
5. an exact file name, then the parameter count's distance from the spec, then the later
   definition (a notebook that defines SimpleNN twice runs the second).

A candidate that misses this model's count but fits a later model's exact count is left to
that model (the one HW4Net(task) class built as HW4Net(2) is Net2's even if Net1 has no
other). Every candidate is reported with the first of these where it differs from the winner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from grader import results
from grader.grading.probe import NOTHING, Measurement, Probe
from grader.inputs.candidates import Candidate
from grader.inputs.discovery import ModelSource
from grader.inputs.sources import SyntaxProblem
from grader.results import CheckResult
from grader.sandbox.reports import ProbeReport
from grader.spec import Assignment, ModelSpec, ParamExpectation


@dataclass(frozen=True)
class Choice:
    """The candidate one model is graded on (none when nothing is left), what probing it
    found, and why it was chosen: what the model's checks read."""

    spec: ModelSpec
    source: ModelSource | None = None   # the chosen candidate's build; None: not found
    measured: Measurement = NOTHING     # what probing it found
    reference: Measurement = NOTHING    # the spec's reference model, probed alike
    considered: tuple[results.Candidate, ...] = ()   # every candidate with why it won or lost,
    #                                     then the exclusions worth showing
    not_found: str = ""                 # why no candidate was chosen
    classes: tuple[str, ...] = ()       # every nn.Module class seen (Probe.classes)
    built: tuple[str, ...] = ()         # every model built without a class (Probe.built)
    syntax: tuple[SyntaxProblem, ...] = ()   # the submission's code that did not parse
    module: str = ""                    # the chosen build's module inside the probes' sandbox

    @property
    def report(self) -> ProbeReport | None:
        return self.measured.report

    @property
    def params(self) -> int | None:
        return self.measured.params

    @property
    def reference_params(self) -> int | None:
        return self.reference.params


FitChecks = Callable[[Choice, Assignment], list[CheckResult]]


@dataclass(frozen=True)
class Fit:
    """How one probed candidate fares against the model's spec."""

    passed: tuple[str, ...]         # check names passed ("builds", "params", ...)
    failed: tuple[str, ...]
    params: int | None
    distance: float                 # relative distance of its count from the spec; 0 inside

    @property
    def params_ok(self) -> bool:
        return "params" in self.passed

    @property
    def passes_all(self) -> bool:
        """It built and passed every check the model has."""
        return bool(self.passed) and not self.failed

    @property
    def checks_text(self) -> str:
        total = len(self.passed) + len(self.failed)
        return (f"passes {len(self.passed)} of {total} checks"
                + (f" (fails {', '.join(self.failed)})" if self.failed else ""))


def distance(expectation: ParamExpectation | None, params: int | None,
             reference: int | None) -> float:
    if params is None:
        return float("inf")
    if expectation is None:
        return 0.0
    if expectation.exact is not None or expectation.reference is not None:
        target = expectation.exact if expectation.exact is not None else reference
        if not target:
            return 0.0
        off = abs(params - target) / max(1, target)      # a family by reference: 0 inside
        return max(0.0, off - expectation.within) if expectation.within else off
    if expectation.min is not None and params < expectation.min:
        return (expectation.min - params) / max(1, expectation.min)
    if expectation.max is not None and params > expectation.max:
        return (params - expectation.max) / max(1, expectation.max)
    return 0.0


def fit(probe: Probe, candidate: Candidate, assignment: Assignment, checks: FitChecks) -> Fit:
    measured = probe.measured.get(candidate.source.ident, NOTHING)
    trial = Choice(probe.spec, source=candidate.source, measured=measured,
                   reference=probe.reference)
    checked = [r for r in checks(trial, assignment) if r.id.split(".", 1)[1] != "found"]
    names = [r.id.split(".", 1)[1] for r in checked]
    return Fit(passed=tuple(n for n, r in zip(names, checked) if r.passed),
               failed=tuple(n for n, r in zip(names, checked) if not r.passed),
               params=measured.params,
               distance=distance(probe.spec.params, measured.params, probe.reference.params))


def _key(c: Candidate, f: Fit, names: tuple[str, ...] = ()) -> tuple:
    return (c.file_rank, f.passes_all, c.name_tier, len(f.passed), c.file_exact,
            -f.distance, -_name_rank(c, names),
            c.order)     # last: a later definition replaces an earlier one


def _name_rank(c: Candidate, names: tuple[str, ...]) -> int:
    """Where the candidate's name is among the spec's accepted names (preferred first);
    len(names) for a name not among them. Two accepted classes that fit alike
    (GRUnetWithEmbeddings and the BiGRUnetWithEmbeddings beside it) go to the spec's first."""
    lowered = [n.lower() for n in names]
    name = c.source.qualname.rsplit(".", 1)[-1].lower()
    return lowered.index(name) if name in lowered else len(names)


def _why_lost(c: Candidate, f: Fit, winner: Candidate, wf: Fit,
              names: tuple[str, ...] = ()) -> str:
    if c.file_rank != winner.file_rank:
        return f"{c.file_note}; {winner.source.qualname} is {winner.file_note}"
    if f.passes_all != wf.passes_all and c.name_tier > winner.name_tier:
        return (f"{c.name_note}, but {f.checks_text}; {winner.source.qualname} "
                f"({winner.name_note}) {wf.checks_text}, and checks outrank names")
    if c.name_tier != winner.name_tier:
        return f"{c.name_note}; {winner.source.qualname} has {winner.name_note}"
    if len(f.passed) != len(wf.passed):
        failed = ", ".join(f.failed) or "none"
        return (f"fits the spec less well: passes {len(f.passed)} of "
                f"{len(f.passed) + len(f.failed)} checks (fails {failed}); "
                f"{winner.source.qualname} passes {len(wf.passed)}")
    if c.file_exact != winner.file_exact:
        return f"its file name matches the assignment's less exactly than {winner.source.where}"
    if f.distance != wf.distance:
        return "its parameter count is further from the expected one"
    if names and _name_rank(c, names) != _name_rank(winner, names):
        return (f"a tie; the assignment prefers the name {winner.source.qualname} "
                f"(its accepted names, preferred first: {', '.join(names)})")
    return (f"a tie; {winner.source.qualname} ({winner.source.where}, line "
            f"{winner.source.line}) is defined later, as a rerun cell or file would replace it")


def _why_chosen(c: Candidate, f: Fit, rivals: int,
                outranked: list[tuple[Candidate, Fit]] = ()) -> str:
    why = f"{c.name_note}, {c.file_note}, {f.checks_text}"
    for other, of in outranked:      # better named, but failing: checks outrank names
        why += (f"; chosen over {other.source.qualname} ({other.source.where}, line "
                f"{other.source.line}), which has {other.name_note} but {of.checks_text}")
    return f"best of {rivals + 1} candidates: {why}" if rivals else f"the only candidate: {why}"


def choose(probes: list[Probe], assignment: Assignment, checks: FitChecks) -> list[Choice]:
    """Each model's choice: its best candidate (or none), with every candidate and the
    reason it won or lost."""
    graded: dict[str, str] = {}          # candidate ident -> title of the model graded on it
    all_fits = [{c.source.ident: fit(p, c, assignment, checks) for c in p.candidates}
                for p in probes]
    choices = []
    for index, probe in enumerate(probes):
        fits = all_fits[index]
        considered, eligible, unnamed = [], [], []
        deferred: dict[str, str] = {}    # ident -> the later model whose count it fits
        for c in probe.candidates:
            f = fits[c.source.ident]
            elsewhere = _fits_later_model(c, f, probes[index + 1:], all_fits[index + 1:])
            if c.source.ident in graded:
                shared = (f"; a class is graded for one model only, so {probe.spec.title}'s own "
                          f"checkpoint ('{probe.spec.weights}') is not loaded into it (see "
                          "Limits in docs/weights.md)" if probe.spec.weights else "")
                considered.append(_considered(c, f, "lost", f"already graded as "
                                              f"{graded[c.source.ident]}{shared}"))
            elif c.name_tier == 0 and not f.params_ok:
                unnamed.append(_considered(c, f, "lost", f"{c.name_note} and "
                                           + _unfit(probe.measured.get(c.source.ident))))
            else:
                eligible.append(c)
                if elsewhere:
                    deferred[c.source.ident] = elsewhere
        # the spec's first accepted name wins a tie in the specs that declare an interface
        # (HW8's GRUnetWithEmbeddings over the BiGRU beside it); classification's choices
        # stay as they were: the later definition
        names = probe.spec.names if assignment.interface.declared else ()
        key = {c.source.ident: _key(c, fits[c.source.ident], names) for c in eligible}
        winner = max((c for c in eligible if c.source.ident not in deferred),
                     key=lambda c: key[c.source.ident], default=None)
        losers = []
        for c in eligible:
            if c is winner:
                continue
            f, ident = fits[c.source.ident], c.source.ident
            if ident in deferred and (winner is None or key[ident] > key[winner.source.ident]):
                why = f"its parameter count fits {deferred[ident]}, not this model"
            else:
                why = _why_lost(c, f, winner, fits[winner.source.ident], names)
            losers.append(_considered(c, f, "lost", why))
        not_found = probe.not_found
        if winner is None:
            considered += losers + unnamed   # the unnamed ones explain why nothing was found
            if probe.candidates:
                not_found = (f"no class or factory function named "
                             f"{' or '.join(probe.spec.names)} is left: "
                             + "; ".join(f"{c.name}: {c.reason}" for c in considered))
        else:
            wf = fits[winner.source.ident]
            graded[winner.source.ident] = probe.spec.title
            outranked = [(c, fits[c.source.ident]) for c in eligible
                         if c is not winner and c.file_rank == winner.file_rank
                         and c.name_tier > winner.name_tier and c.source.ident not in deferred]
            why = _why_chosen(winner, wf, len(considered) + len(losers), outranked)
            considered = [_considered(winner, wf, "chosen", why)] + losers + considered
        considered += [results.Candidate(name=e.name, source=e.where, line=e.line,
                                         status="excluded", reason=e.reason)
                       for e in probe.exclusions
                       if e.close and not e.reason.startswith(("a building block",
                                                                 "its name is accepted for"))]
        source = winner.source if winner is not None else None
        choices.append(Choice(
            probe.spec, source=source,
            measured=probe.measured.get(source.ident, NOTHING) if source else NOTHING,
            reference=probe.reference, considered=tuple(considered), not_found=not_found,
            classes=probe.classes, built=probe.built, syntax=probe.syntax,
            module=probe.modules.get(source.ident, "") if source else ""))
    return choices


def _unfit(measured: Measurement | None) -> str:
    """Why a nameless candidate's count does not fit: it does not, or it never built (a
    missing package such as timm is named)."""
    report = measured.report if measured is not None else None
    if measured is not None and measured.params is not None:
        return "its parameter count does not fit the spec"
    error = report.error if report is not None else None
    if error is not None and error.missing_module:
        return (f"it did not build: it needs the module '{error.missing_module}', which is not "
                "installed in the grading environment")
    if error is not None:
        return f"it did not build: {error}"
    return "it did not build"


def _fits_later_model(c: Candidate, f: Fit, later: list[Probe], fits: list[dict]) -> str:
    """The title of a later model whose count this candidate fits when it does not fit the
    model at hand (HW4Net(2) is Net2's, even when Net1 comes first and has no other)."""
    if f.params_ok or f.params is None:
        return ""
    for probe, their in zip(later, fits):
        other = their.get(c.source.ident)
        if other is not None and other.params_ok and probe.spec.params is not None and (
                probe.spec.params.exact is not None or probe.spec.params.reference is not None):
            return probe.spec.title
    return ""


def _considered(c: Candidate, f: Fit, status: str, reason: str) -> results.Candidate:
    """A candidate as the result lists it, with why it won or lost."""
    s = c.source
    return results.Candidate(name=s.qualname, source=s.where, line=s.line, call=s.call,
                             params=f.params, chosen=status == "chosen", status=status,
                             reason=reason)
