"""Copied predictions: shared wrong answers, agreement, and predictions in the public order.

All of it is arithmetic on label vectors (one int per held-out image, in id order, as
grader.grading.predictions reads them); nothing here reads files.

Shared wrong answers (with held-out labels). For a pair (A, B), S counts the images both got
wrong with the same wrong label. The null model is two independent models of A's and B's
accuracy that find the same images hard as the rest of the class does: on image i, a model of
error rate e gives wrong label c with probability (e / e_others) * w_i(c), where w_i(c) is the
share of the other students (the pair left out) who answered c there. Summing the products over
images and wrong labels gives the count expected, E; the p-value is the binomial upper tail
P(X >= S) for X ~ Binomial(images, E / images). (The exact law of S is a Poisson binomial, whose
variance is at most the binomial's with the same mean, so this p-value is conservative.) Honest
models share their hard images, which a model of independent errors would call significant for
every pair: independent ~90% CIFAR-10 models agree on 89-92% of the labels. With fewer than
MIN_OTHERS other students the hardness of single images cannot be estimated and each student's
own confusion matrix stands in (independent given the true class): its counts are reported but
never flagged, since honest models sharing hard images would look like copies under it.

Agreement (no labels, accuracies known from the result files): D counts images where A and B
differ. Honest pairs differ on a roughly fixed share rho of their combined error rate; rho is
the class's median, and the p-value is the binomial lower tail P(X <= D) for
X ~ Binomial(images, rho * (e_A + e_B)).

Public order: a file that scores at chance against the secret permutation's labels but far
above chance against the dataset's public order was made from the public test set.

Tails are computed in log space (log10 p down to about -1e300 and beyond), without scipy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_OTHERS = 4              # other students needed to estimate how hard each image is


def _log_pmf(k: int, n: int, p: float) -> float:
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
            + k * math.log(p) + (n - k) * math.log1p(-p))


def _window(n: int, p: float) -> int:
    """Terms summed past the first: 40 standard deviations, beyond which they are nothing."""
    return int(40 * math.sqrt(n * p * (1 - p)) + 60)


def _upper(k: int, n: int, p: float) -> float:
    """ln P(X >= k), summing pmf(k), pmf(k + 1), ... by the ratio of neighbours."""
    j = np.arange(k, min(n, k + _window(n, p)), dtype=np.float64)
    steps = np.log(n - j) - np.log(j + 1) + math.log(p / (1 - p))
    logs = _log_pmf(k, n, p) + np.concatenate(([0.0], np.cumsum(steps)))
    top = float(logs.max())
    return top + math.log(float(np.exp(logs - top).sum()))


def _lower(k: int, n: int, p: float) -> float:
    """ln P(X <= k), summing pmf(k), pmf(k - 1), ... by the ratio of neighbours."""
    j = np.arange(k, max(0, k - _window(n, p)), -1, dtype=np.float64)
    steps = np.log(j) - np.log(n - j + 1) - math.log(p / (1 - p))
    logs = _log_pmf(k, n, p) + np.concatenate(([0.0], np.cumsum(steps)))
    top = float(logs.max())
    return top + math.log(float(np.exp(logs - top).sum()))


def log10_binom_sf(k: int, n: int, p: float) -> float:
    """log10 P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 0.0
    if k > n:
        return -math.inf
    p = min(max(p, 1e-300), 1 - 1e-16)
    if k > n * p:
        return min(0.0, _upper(k, n, p) / math.log(10))
    below = math.exp(_lower(k - 1, n, p))
    return math.log10(max(1.0 - below, 1e-300))


def log10_binom_cdf(k: int, n: int, p: float) -> float:
    """log10 P(X <= k) for X ~ Binomial(n, p)."""
    if k >= n:
        return 0.0
    if k < 0:
        return -math.inf
    p = min(max(p, 1e-300), 1 - 1e-16)
    if k < n * p:
        return min(0.0, _lower(k, n, p) / math.log(10))
    above = math.exp(_upper(k + 1, n, p))
    return math.log10(max(1.0 - above, 1e-300))


@dataclass(frozen=True)
class SharedErrors:
    """Shared wrong answers of one pair against the null model (see the module docstring)."""

    a: str
    b: str
    images: int                     # images compared (the held-out set)
    errors_a: int                   # images A got wrong
    errors_b: int
    shared: int                     # both wrong with the same wrong label
    expected: float                 # the count the null model expects
    log10_p: float                  # log10 of P(X >= shared) under the null
    agreement: float                # share of images with the same label (right or wrong)
    null: str                       # "class" (image hardness from the others) | "confusion"

    @property
    def ratio(self) -> float:
        return self.shared / self.expected if self.expected > 0 else math.inf


@dataclass(frozen=True)
class Agreement:
    """Agreement of one pair without held-out labels, against the class's usual disagreement."""

    a: str
    b: str
    images: int
    accuracy_a: float               # from the result files (grader evaluate)
    accuracy_b: float
    disagree: int                   # images with different labels
    expected: float                 # rho * (e_A + e_B) * images
    log10_p: float                  # log10 of P(X <= disagree) under the null
    rho: float                      # the class's median disagreement per unit of error


@dataclass(frozen=True)
class PublicOrder:
    """One file scored against the secret order (labels.csv) and the public order."""

    student: str
    accuracy_secret: float
    accuracy_public: float
    chance: float                   # accuracy a file of this label mix gets by chance
    log10_p_public: float           # log10 P(hits >= public hits) by chance
    log10_p_secret: float           # the same for the secret order


def error_probabilities(wrong: np.ndarray, iterations: int = 30) -> np.ndarray:
    """P[s, i]: how likely student s is to get image i wrong, from a Rasch model fitted to
    the class (logit P = hardness_i - skill_s): hard images are hard for everyone, and a strong
    student's few errors sit on the hardest images. Fitted by alternating Newton steps (at most
    one logit each, so a student who gets nearly everything wrong cannot make it diverge) that
    match each student's error count and each image's count of students wrong."""
    n_students, images = wrong.shape
    per_student = np.clip(wrong.sum(axis=1), 0.5, images - 0.5).astype(np.float32)
    per_image = np.clip(wrong.sum(axis=0), 0.5, n_students - 0.5).astype(np.float32)
    hardness = np.log(per_image / (n_students - per_image)).astype(np.float32)
    skill = np.log((images - per_student) / per_student).astype(np.float32) + float(
        np.mean(hardness))

    def fitted() -> np.ndarray:
        return 1 / (1 + np.exp(np.clip(skill[:, None] - hardness[None, :], -40, 40)))

    for _ in range(iterations):
        p = fitted()
        step = (p.sum(axis=1) - per_student) / np.maximum((p * (1 - p)).sum(axis=1), 1e-6)
        skill += np.clip(step, -1, 1)
        p = fitted()
        step = (p.sum(axis=0) - per_image) / np.maximum((p * (1 - p)).sum(axis=0), 1e-6)
        hardness -= np.clip(step, -1, 1)
    return fitted().astype(np.float64)


def shared_errors(names: list[str], preds: np.ndarray, labels: np.ndarray,
                  num_classes: int) -> list[SharedErrors]:
    """Every pair's shared wrong answers. preds: N x images label indexes, labels: images."""
    preds = np.asarray(preds, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    n_students, images = preds.shape
    wrong = preds != labels[None, :]
    errors = wrong.sum(axis=1)
    use_class = n_students - 2 >= MIN_OTHERS
    if use_class:
        p_wrong = error_probabilities(wrong)
        counts = np.zeros((images, num_classes))       # wrong answers per image and label
        for row, w in zip(preds, wrong):
            np.add.at(counts, (np.nonzero(w)[0], row[w]), 1)
        prior = np.ones((images, num_classes)) / (num_classes - 1)   # one pseudo-answer,
        prior[np.arange(images), labels] = 0.0                         # spread over wrong labels
        q = (counts + prior) / (counts.sum(axis=1, keepdims=True) + 1.0)
        same_label = (q ** 2).sum(axis=1)   # chance two wrong answers at an image coincide
        expected_all = (p_wrong * same_label[None, :]) @ p_wrong.T
    else:
        confusion = _row_normalised_confusions(preds, labels, num_classes)
        per_class = np.bincount(labels, minlength=num_classes).astype(np.float64)
    out: list[SharedErrors] = []
    for i in range(n_students):
        agree_all = (preds[i][None, :] == preds[i + 1:]).sum(axis=1)
        mine = np.nonzero(wrong[i])[0]          # only where i is wrong can an error be shared
        shared_all = ((preds[i + 1:, mine] == preds[i, mine][None, :])
                      & wrong[i + 1:, mine]).sum(axis=1)
        for offset, j in enumerate(range(i + 1, n_students)):
            shared = int(shared_all[offset])
            if use_class:
                expected = float(expected_all[i, j])
                null = "class"
            else:
                mass = confusion[i] * confusion[j]
                np.fill_diagonal(mass, 0.0)
                expected = float((mass.sum(axis=1) * per_class).sum())
                null = "confusion"
            expected = float(min(max(expected, 1e-9), images))
            out.append(SharedErrors(
                names[i], names[j], images, int(errors[i]), int(errors[j]), shared, expected,
                log10_binom_sf(shared, images, expected / images),
                float(agree_all[offset]) / images, null))
    return out


def _row_normalised_confusions(preds: np.ndarray, labels: np.ndarray,
                               num_classes: int) -> np.ndarray:
    out = np.zeros((len(preds), num_classes, num_classes))
    per_class = np.maximum(np.bincount(labels, minlength=num_classes), 1)
    for s, row in enumerate(preds):
        cm = np.bincount(labels * num_classes + row, minlength=num_classes ** 2)
        out[s] = cm.reshape(num_classes, num_classes) / per_class[:, None]
    return out


def agreement(names: list[str], preds: np.ndarray,
              accuracies: list[float]) -> list[Agreement]:
    """Every pair's disagreement against the class's median (no held-out labels needed)."""
    preds = np.asarray(preds, dtype=np.int64)
    n_students, images = preds.shape
    error = 1.0 - np.asarray(accuracies, dtype=np.float64)
    rows: list[tuple[int, int, int, float]] = []
    for i in range(n_students):
        differ = (preds[i][None, :] != preds[i + 1:]).sum(axis=1)
        for offset, j in enumerate(range(i + 1, n_students)):
            rows.append((i, j, int(differ[offset]), float(error[i] + error[j])))
    ratios = [d / (images * e) for _, _, d, e in rows if e > 0]
    if not ratios:
        return []
    rho = float(np.median(ratios))
    out = []
    for i, j, d, e in rows:
        expected = min(max(rho * e, 1e-9), 1.0) * images
        out.append(Agreement(names[i], names[j], images, float(accuracies[i]),
                             float(accuracies[j]), d, expected,
                             log10_binom_cdf(d, images, expected / images), rho))
    return out


def public_order(names: list[str], preds: np.ndarray, labels: np.ndarray,
                 public_labels: np.ndarray) -> list[PublicOrder]:
    """Each file against the secret order and the public order of the same images."""
    preds = np.asarray(preds, dtype=np.int64)
    images = len(labels)
    num_classes = int(max(labels.max(), public_labels.max(), preds.max()) + 1)
    true_mix = np.bincount(labels, minlength=num_classes) / images
    out = []
    for name, row in zip(names, preds):
        chance = float((np.bincount(row, minlength=num_classes) / images) @ true_mix)
        chance = min(max(chance, 1e-6), 1 - 1e-6)
        hits_secret = int((row == labels).sum())
        hits_public = int((row == public_labels).sum())
        out.append(PublicOrder(name, hits_secret / images, hits_public / images, chance,
                               log10_binom_sf(hits_public, images, chance),
                               log10_binom_sf(hits_secret, images, chance)))
    return out
