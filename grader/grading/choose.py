"""Choosing, among the probed candidates, the one each model is graded on, and saying why.

Models are served in the spec's order; a build graded for one model is not graded again for
another. For each model the candidates compare by, in order:

1. the file: in a file the spec names for this model, else in a file named for no model,
   else in another model's file;
2. the name: an accepted name, else a name that points at the model, else none (such a class
   is taken only when its parameter count fits the spec: a name alone is not enough, and no
   name is not enough either);
3. the fit: how many of the spec's checks it passes once built (builds, forward, params,
   weighted layers, BatchNorm);
4. an exact file name, then the parameter count's distance from the spec, then the later
   definition (a notebook that defines SimpleNN twice runs the second).

A candidate that misses this model's count but fits a later model's exact count is left to
that model (the one HW4Net(task) class built as HW4Net(2) is Net2's even if Net1 has no
other). Every candidate is reported with the first of these where it differs from the winner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from grader.grading.probe import Probe, count
from grader.inputs.candidates import Option
from grader.results import Candidate, CheckResult
from grader.spec import Assignment, ParamExpectation

FitChecks = Callable[[Probe, Assignment], list[CheckResult]]


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


def distance(expectation: ParamExpectation | None, params: int | None,
             reference: int | None) -> float:
    if params is None:
        return float("inf")
    if expectation is None:
        return 0.0
    if expectation.exact is not None or expectation.reference is not None:
        target = expectation.exact if expectation.exact is not None else reference
        return abs(params - target) / max(1, target) if target else 0.0
    if expectation.min is not None and params < expectation.min:
        return (expectation.min - params) / max(1, expectation.min)
    if expectation.max is not None and params > expectation.max:
        return (params - expectation.max) / max(1, expectation.max)
    return 0.0


def fit(probe: Probe, option: Option, assignment: Assignment, checks: FitChecks) -> Fit:
    report, shapes = probe.probed.get(option.source.ident, (None, None))
    trial = Probe(probe.spec, source=option.source, report=report, shapes=shapes,
                  reference_report=probe.reference_report,
                  reference_shapes=probe.reference_shapes)
    results = [r for r in checks(trial, assignment) if r.id.split(".", 1)[1] != "found"]
    names = [r.id.split(".", 1)[1] for r in results]
    return Fit(passed=tuple(n for n, r in zip(names, results) if r.passed),
               failed=tuple(n for n, r in zip(names, results) if not r.passed),
               params=count(shapes),
               distance=distance(probe.spec.params, count(shapes), probe.reference_params))


def _key(option: Option, f: Fit) -> tuple:
    return (option.file_rank, option.name_tier, len(f.passed), option.file_exact,
            -f.distance, option.order)     # last: a later definition replaces an earlier one


def _why_lost(option: Option, f: Fit, winner: Option, wf: Fit) -> str:
    if option.file_rank != winner.file_rank:
        return f"{option.file_note}; {winner.source.qualname} is {winner.file_note}"
    if option.name_tier != winner.name_tier:
        return f"{option.name_note}; {winner.source.qualname} has {winner.name_note}"
    if len(f.passed) != len(wf.passed):
        failed = ", ".join(f.failed) or "none"
        return (f"fits the spec less well: passes {len(f.passed)} of "
                f"{len(f.passed) + len(f.failed)} checks (fails {failed}); "
                f"{winner.source.qualname} passes {len(wf.passed)}")
    if option.file_exact != winner.file_exact:
        return f"its file name matches the assignment's less exactly than {winner.source.where}"
    if f.distance != wf.distance:
        return "its parameter count is further from the expected one"
    return (f"a tie; {winner.source.qualname} ({winner.source.where}, line "
            f"{winner.source.line}) is defined later, as a rerun cell or file would replace it")


def _why_chosen(option: Option, f: Fit, rivals: int) -> str:
    total = len(f.passed) + len(f.failed)
    fits = f"passes {len(f.passed)} of {total} checks" + (
        f" (fails {', '.join(f.failed)})" if f.failed else "")
    why = f"{option.name_note}, {option.file_note}, {fits}"
    return f"best of {rivals + 1} candidates: {why}" if rivals else f"the only candidate: {why}"


def choose(probes: list[Probe], assignment: Assignment, checks: FitChecks) -> None:
    """Set each probe's source, report and shapes to its best candidate, and its
    `considered` list to every candidate with the reason it won or lost."""
    graded: dict[str, str] = {}          # option ident -> title of the model graded on it
    all_fits = [{o.source.ident: fit(p, o, assignment, checks) for o in p.options}
                for p in probes]
    for index, probe in enumerate(probes):
        fits = all_fits[index]
        considered, eligible, unnamed = [], [], []
        deferred: dict[str, str] = {}    # ident -> the later model whose count it fits
        for o in probe.options:
            f = fits[o.source.ident]
            elsewhere = _fits_later_model(o, f, probes[index + 1:], all_fits[index + 1:])
            if o.source.ident in graded:
                considered.append(_candidate(o, f, "lost",
                                             f"already graded as {graded[o.source.ident]}"))
            elif o.name_tier == 0 and not f.params_ok:
                unnamed.append(_candidate(o, f, "lost", f"{o.name_note} and its parameter "
                                          "count does not fit the spec"))
            else:
                eligible.append(o)
                if elsewhere:
                    deferred[o.source.ident] = elsewhere
        key = {o.source.ident: _key(o, fits[o.source.ident]) for o in eligible}
        winner = max((o for o in eligible if o.source.ident not in deferred),
                     key=lambda o: key[o.source.ident], default=None)
        losers = []
        for o in eligible:
            if o is winner:
                continue
            f, ident = fits[o.source.ident], o.source.ident
            if ident in deferred and (winner is None or key[ident] > key[winner.source.ident]):
                why = f"its parameter count fits {deferred[ident]}, not this model"
            else:
                why = _why_lost(o, f, winner, fits[winner.source.ident])
            losers.append(_candidate(o, f, "lost", why))
        if winner is None:
            considered += losers + unnamed   # the unnamed ones explain why nothing was found
            probe.source, probe.report, probe.shapes = None, None, None
            if probe.options:
                probe.not_found = (f"no class or factory function named "
                                   f"{' or '.join(probe.spec.names)} is left: "
                                   + "; ".join(f"{c.name}: {c.reason}" for c in considered))
        else:
            wf = fits[winner.source.ident]
            graded[winner.source.ident] = probe.spec.title
            probe.source = winner.source
            probe.report, probe.shapes = probe.probed.get(winner.source.ident, (None, None))
            why = _why_chosen(winner, wf, len(considered) + len(losers))
            considered = [_candidate(winner, wf, "chosen", why)] + losers + considered
        considered += [Candidate(name=e.name, source=e.where, line=e.line, status="excluded",
                                 reason=e.reason) for e in probe.excluded
                       if e.close and not e.reason.startswith(("a building block",
                                                                 "its name is accepted for"))]
        probe.considered = considered


def _fits_later_model(option: Option, f: Fit, later: list[Probe], fits: list[dict]) -> str:
    """The title of a later model whose count this candidate fits when it does not fit the
    model at hand (HW4Net(2) is Net2's, even when Net1 comes first and has no other)."""
    if f.params_ok or f.params is None:
        return ""
    for probe, their in zip(later, fits):
        other = their.get(option.source.ident)
        if other is not None and other.params_ok and probe.spec.params is not None and (
                probe.spec.params.exact is not None or probe.spec.params.reference is not None):
            return probe.spec.title
    return ""


def _candidate(option: Option, f: Fit, status: str, reason: str) -> Candidate:
    s = option.source
    return Candidate(name=s.qualname, source=s.where, line=s.line, call=s.call, params=f.params,
                     chosen=status == "chosen", status=status, reason=reason)
