"""Plain functions that build EvaluationResult objects for the report and export tests.

They mirror what `grader evaluate` produces for ECE 661 HW2 (three models, eight rubric items)
and for the Tiny ImageNet assignment (one model, 200 classes). Every number is fixed, so the
rendered HTML is deterministic and the golden files stay stable.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from grader.results import (CheckReport, CheckResult, EpochStats, EvaluationResult, ItemScore,
                            LayerRow, ModelReport, PredictionError, PredictionsReport,
                            SandboxReport, Scores, TrainingResult)
from grader.spec import CIFAR10_CLASSES

COURSE = "ECE 661: Computer Engineering Machine Learning and Deep Neural Nets"
HW2_TITLE = "Homework 2: Construct, Train, and Optimize CNN Models"
CREATED = "2025-03-14T09:26:53+00:00"


# ---------------------------------------------------------------- building blocks

def scores(recalls: list[float], per_class: int = 1000, seed: int = 0) -> Scores:
    """Held-out scores whose confusion matrix has exactly the given per-class recall; the
    errors of a class go mostly to one 'look-alike' class (cat->dog, truck->automobile)."""
    n = len(recalls)
    rng = np.random.default_rng(seed)
    confusion = np.zeros((n, n), dtype=int)
    for i, recall in enumerate(recalls):
        correct = int(round(recall * per_class))
        wrong = per_class - correct
        confusion[i, i] = correct
        lookalike = (i + 1) % n if i % 2 == 0 else (i - 1) % n
        others = [j for j in range(n) if j not in (i, lookalike)]
        heavy = wrong // 2 if others else wrong          # two classes: every error is the other
        confusion[i, lookalike] += heavy
        if others:
            spread = rng.multinomial(wrong - heavy, np.ones(len(others)) / len(others))
            confusion[i, others] += spread
    per = [float(confusion[i, i] / per_class) for i in range(n)]
    return Scores(accuracy=float(np.trace(confusion) / confusion.sum()), per_class=per,
                  confusion=confusion.tolist())


def history(final_val: float, epochs: int = 4, start_loss: float = 2.1) -> list[EpochStats]:
    out = []
    for e in range(1, epochs + 1):
        frac = e / epochs
        val = 0.1 + (final_val - 0.1) * (1 - (1 - frac) ** 2)
        out.append(EpochStats(epoch=e, train_loss=round(start_loss * (1 - 0.55 * frac), 4),
                              train_accuracy=round(val - 0.03, 4),
                              val_accuracy=round(val, 4), lr=round(0.05 * (1 - frac), 5)))
    return out


def training(key: str, final_val: float, recalls: list[float], seed: int = 0,
             epochs: int = 4, start_loss: float = 2.1) -> TrainingResult:
    return TrainingResult(model=key, ok=True, history=history(final_val, epochs, start_loss),
                          scores=scores(recalls, seed=seed), seconds=41.5,
                          images_per_second=1204.0)


def simplenn_layers(wrong_conv2: bool = False, bn: bool = False) -> list[LayerRow]:
    """SimpleNN of ECE 661 HW2 Table 1 (82,030 parameters); with wrong_conv2, conv2 has 32
    filters instead of 16, which also changes fc1."""
    c2 = 32 if wrong_conv2 else 16
    rows = [LayerRow("conv1", "Conv2d", [1, 8, 28, 28], [8, 3, 5, 5], 608, 608)]
    if bn:
        rows.append(LayerRow("bn1", "BatchNorm2d", [1, 8, 28, 28], [8], 16, 16))
    rows += [
        LayerRow("pool1", "MaxPool2d", [1, 8, 14, 14], None, 0, 0),
        LayerRow("conv2", "Conv2d", [1, c2, 12, 12], [c2, 8, 3, 3], 8 * 9 * c2 + c2, 1168,
                 differs=wrong_conv2),
    ]
    if bn:
        rows.append(LayerRow("bn2", "BatchNorm2d", [1, 16, 12, 12], [16], 32, 32))
    rows += [
        LayerRow("pool2", "MaxPool2d", [1, c2, 6, 6], None, 0, 0),
        LayerRow("fc1", "Linear", [1, 120], [120, c2 * 36], c2 * 36 * 120 + 120, 69240,
                 differs=wrong_conv2),
        LayerRow("fc2", "Linear", [1, 84], [84, 120], 10164, 10164),
        LayerRow("fc3", "Linear", [1, 10], [10, 84], 850, 850),
    ]
    return rows


def resnet20_layers() -> list[LayerRow]:
    """ResNet-20, option A shortcuts: 60 leaf modules, 269,722 parameters."""
    rows = [LayerRow("conv1", "Conv2d", [1, 16, 32, 32], [16, 3, 3, 3], 432, 432),
            LayerRow("bn1", "BatchNorm2d", [1, 16, 32, 32], [16], 32, 32),
            LayerRow("relu", "ReLU", [1, 16, 32, 32], None, 0, 0)]
    c_in = 16
    for stage, (c, size) in enumerate([(16, 32), (32, 16), (64, 8)], start=1):
        for block in range(3):
            p = f"layer{stage}.{block}"
            first_in = c_in if block == 0 else c
            conv1, conv2 = first_in * c * 9, c * c * 9
            rows += [LayerRow(f"{p}.conv1", "Conv2d", [1, c, size, size], [c, first_in, 3, 3],
                              conv1, conv1),
                     LayerRow(f"{p}.bn1", "BatchNorm2d", [1, c, size, size], [c], 2 * c, 2 * c),
                     LayerRow(f"{p}.relu1", "ReLU", [1, c, size, size], None, 0, 0),
                     LayerRow(f"{p}.conv2", "Conv2d", [1, c, size, size], [c, c, 3, 3],
                              conv2, conv2),
                     LayerRow(f"{p}.bn2", "BatchNorm2d", [1, c, size, size], [c], 2 * c, 2 * c),
                     LayerRow(f"{p}.relu2", "ReLU", [1, c, size, size], None, 0, 0)]
            if block == 0 and first_in != c:
                rows.append(LayerRow(f"{p}.shortcut", "LambdaLayer", [1, c, size, size], None,
                                     0, 0))
        c_in = c
    rows += [LayerRow("avgpool", "AdaptiveAvgPool2d", [1, 64, 1, 1], None, 0, 0),
             LayerRow("linear", "Linear", [1, 10], [10, 64], 650, 650)]
    return rows


def passed(check_id: str, message: str, model: str | None = None) -> CheckResult:
    return CheckResult(check_id, True, message, "", model)


def failed(check_id: str, message: str, hint: str, model: str | None = None) -> CheckResult:
    return CheckResult(check_id, False, message, hint, model)


def model_checks(key: str, params: int) -> list[CheckResult]:
    return [passed(f"{key}.found", "class found", key),
            passed(f"{key}.builds", "builds with the assignment's arguments", key),
            passed(f"{key}.output_shape", "output shape [1, 10] for one 3x32x32 image", key),
            passed(f"{key}.params", f"{params:,} trainable parameters", key)]


HW2_ITEMS = [("lab1-model", "Lab 1: SimpleNN matches Table 1 (builds, output shape, parameters "
              "per layer)", 10), ("lab1-accuracy", "Lab 1: SimpleNN trains as well as the "
              "reference under the canonical routine", 10),
             ("lab2-model", "Lab 2: BatchNorm after each convolution", 10),
             ("lab2-accuracy", "Lab 2: SimpleNN+BN trains as well as the reference", 10),
             ("lab3-model", "Lab 3: ResNet-20 architecture (20 weighted layers, ~0.27M "
              "parameters)", 15),
             ("lab3-accuracy", "Lab 3: ResNet-20 trains as well as the reference", 15),
             ("predictions-format", "predictions.csv is well formed", 5),
             ("predictions-accuracy", "Lab 3: held-out accuracy of predictions.csv (target > "
              "90%)", 25)]


def rubric(earned: dict[str, float], reasons: dict[str, list[str]]) -> list[ItemScore]:
    return [ItemScore(i, title, earned.get(i, points), points, reasons.get(i, []))
            for i, title, points in HW2_ITEMS]


def references() -> list[TrainingResult]:
    return [training("simplenn", 0.52, [0.62, 0.66, 0.38, 0.33, 0.44, 0.41, 0.62, 0.58, 0.66,
                                        0.60], seed=10, start_loss=2.0),
            training("simplenn-bn", 0.56, [0.66, 0.70, 0.42, 0.36, 0.48, 0.45, 0.66, 0.62, 0.70,
                                           0.65], seed=11, start_loss=1.9),
            training("resnet20", 0.66, [0.74, 0.80, 0.55, 0.46, 0.60, 0.55, 0.74, 0.70, 0.79,
                                        0.71], seed=12, start_loss=1.95)]


def _hw2(student: str, **kw) -> EvaluationResult:
    items = kw.pop("rubric")
    base = dict(student=student, assignment="ece661-hw2", course=COURSE, title=HW2_TITLE,
                grader_version="0.1.0", created=CREATED, status="ok", error=None,
                reference=references(), rubric=items,
                total=sum(i.earned for i in items), possible=sum(i.possible for i in items),
                class_names=list(CIFAR10_CLASSES), dataset="synthetic (seed 0)", device="cpu")
    base.update(kw)
    return EvaluationResult(**base)


# ---------------------------------------------------------------- the four submissions

def good_result(student: str = "alice_good") -> EvaluationResult:
    """Every check passes; accuracies near the reference; predictions.csv at 91.3%."""
    models = [
        ModelReport("simplenn", "SimpleNN (Lab 1)", True, "SimpleNN", "hw2.ipynb cell 4", 3,
                    candidates=["SimpleNN", "SimpleNN_BN", "ResNet20", "BasicBlock"],
                    params=82030, expected_params="82,030", output_shape=[1, 10],
                    flops=1_312_520, layers=simplenn_layers()),
        ModelReport("simplenn-bn", "SimpleNN with BatchNorm (Lab 2)", True, "SimpleNN_BN",
                    "hw2.ipynb cell 6", 1, params=82078, expected_params="82,078",
                    output_shape=[1, 10], flops=1_340_000, layers=simplenn_layers(bn=True)),
        ModelReport("resnet20", "ResNet-20 (Lab 3)", True, "ResNet20", "hw2.ipynb cell 9", 30,
                    params=269722, expected_params="269,722 to 272,474", output_shape=[1, 10],
                    flops=81_620_000, layers=resnet20_layers()),
    ]
    checks = (model_checks("simplenn", 82030) + model_checks("simplenn-bn", 82078)
              + [passed("simplenn-bn.batchnorm", "a BatchNorm2d follows each Conv2d",
                        "simplenn-bn")]
              + model_checks("resnet20", 269722)
              + [passed("resnet20.weighted_layers", "20 weighted layers", "resnet20"),
                 passed("predictions.format", "10,000 rows, ids 0 to 9,999, labels valid")])
    check = CheckReport(student, "ece661-hw2", True, models, checks,
                        PredictionsReport(True, True, rows=10000),
                        SandboxReport(status="ok", exit_code=0, seconds=14.2),
                        files=["hw2.ipynb", "predictions.csv"])
    train = [training("simplenn", 0.51, [0.60, 0.66, 0.36, 0.31, 0.45, 0.40, 0.61, 0.57, 0.65,
                                         0.59], seed=1),
             training("simplenn-bn", 0.55, [0.65, 0.69, 0.41, 0.36, 0.47, 0.44, 0.66, 0.61,
                                            0.69, 0.62], seed=2),
             training("resnet20", 0.65, [0.73, 0.79, 0.54, 0.45, 0.59, 0.55, 0.73, 0.70, 0.78,
                                         0.70], seed=3)]
    preds = scores([0.94, 0.96, 0.88, 0.80, 0.92, 0.86, 0.95, 0.94, 0.96, 0.92], seed=4)
    items = rubric({"predictions-accuracy": 25.0}, {})
    return _hw2(student, check=check, training=train, predictions=preds, rubric=items)


# grader check's verdict on a Lab 2 model whose forward runs conv2 -> F.relu -> bn2
BN_LATE = ("BatchNorm does not directly follow every convolution in forward: conv2 -> F.relu "
           "-> bn2 (BatchNorm2d), BatchNorm after the activation")


def failing_result(student: str = "bob_failing") -> EvaluationResult:
    """SimpleNN's conv2 has 32 filters (parameters per layer differ from Table 1); SimpleNN-BN
    crashes in training; ResNet-20 is missing; predictions.csv has a bad label."""
    models = [
        ModelReport("simplenn", "SimpleNN (Lab 1)", True, "Net", "hw2.py", 12,
                    candidates=["Net", "Net2"], params=152318, expected_params="82,030",
                    output_shape=[1, 10], flops=2_260_000,
                    layers=simplenn_layers(wrong_conv2=True)),
        ModelReport("simplenn-bn", "SimpleNN with BatchNorm (Lab 2)", True, "Net2", "hw2.py",
                    40, substituted=True, candidates=["Net", "Net2"], params=82078,
                    expected_params="82,078", output_shape=[1, 10], flops=1_340_000,
                    layers=simplenn_layers(bn=True)),
        ModelReport("resnet20", "ResNet-20 (Lab 3)", False, candidates=["Net", "Net2"],
                    expected_params="269,722 to 272,474",
                    error="no class or factory named ResNet20, resnet20, ResNet_20 or ResNet"),
    ]
    checks = [
        passed("simplenn.found", "class Net found", "simplenn"),
        passed("simplenn.output_shape", "output shape [1, 10]", "simplenn"),
        failed("simplenn.params", "152,318 trainable parameters; expected 82,030",
               "Table 1 gives conv2 16 filters of 3x3 over 8 channels (1,168 parameters); "
               "yours has 32 filters, which also doubles fc1's inputs. Use "
               "nn.Conv2d(8, 16, 3) and nn.Linear(16 * 6 * 6, 120).", "simplenn"),
        passed("simplenn-bn.found", "no accepted name; using Net2, the only other nn.Module",
               "simplenn-bn"),
        failed("simplenn-bn.batchnorm", BN_LATE,
               "Call each BatchNorm on the convolution's output, before the activation: "
               "x = F.relu(self.bn1(self.conv1(x))), not self.bn1(F.relu(self.conv1(x))).",
               "simplenn-bn"),
        failed("resnet20.found", "no ResNet-20 class or factory found",
               "Name your class ResNet20 (or provide a function resnet20()) so the grader "
               "can find it.", "resnet20"),
        failed("predictions.format", "line 17: label 'catt' is not a class name",
               "Write one label per row: a class index 0-9 or one of the CIFAR-10 names "
               "(airplane, automobile, ...)."),
    ]
    check = CheckReport(
        student, "ece661-hw2", False, models, checks,
        PredictionsReport(True, False, rows=10000, errors=[
            PredictionError(17, "label 'catt' is not a class name"),
            PredictionError(2045, "label '' is empty")]),
        SandboxReport(status="ok", exit_code=0, seconds=16.8), files=["hw2.py",
                                                                       "predictions.csv"])
    train = [training("simplenn", 0.46, [0.55, 0.60, 0.30, 0.22, 0.40, 0.36, 0.55, 0.52,
                                         0.60, 0.51], seed=5),
             TrainingResult("simplenn-bn", ok=False, seconds=2.1,
                            error="RuntimeError: mat1 and mat2 shapes cannot be multiplied "
                                  "(128x256 and 576x120)")]
    items = rubric(
        {"lab1-model": 7.5, "lab1-accuracy": 8.5, "lab2-model": 5.0, "lab2-accuracy": 0.0,
         "lab3-model": 0.0, "lab3-accuracy": 0.0, "predictions-format": 0.0,
         "predictions-accuracy": 0.0},
        {"lab1-model": ["simplenn.params failed: 152,318 trainable parameters; expected "
                        "82,030 (-2.5)"],
         "lab1-accuracy": ["held-out accuracy 46.0% is 88% of the reference's 52.0% "
                           "(full marks from 95%) (-1.5)"],
         "lab2-model": [f"simplenn-bn.batchnorm failed: {BN_LATE} (-5)"],
         "lab2-accuracy": ["training failed: RuntimeError: mat1 and mat2 shapes cannot be "
                           "multiplied (-10)"],
         "lab3-model": ["resnet20.found failed: no ResNet-20 class or factory found (-15)"],
         "lab3-accuracy": ["no ResNet-20 model to train (-15)"],
         "predictions-format": ["predictions.format failed: line 17: label 'catt' is not a "
                                "class name (-5)"],
         "predictions-accuracy": ["predictions.csv is not valid, so it was not scored (-25)"]})
    return _hw2(student, status="failed", check=check, training=train, predictions=None,
                rubric=items)


CRASH_OUTPUT = "\n".join(
    [f"epoch 1 batch {i:3d}/391 loss {2.3 - i * 0.001:.4f}" for i in range(0, 300)]
    + ["Traceback (most recent call last):",
       '  File "/submission/hw2.py", line 88, in <module>',
       "    big = [torch.zeros(1024, 1024, 256) for _ in range(64)]",
       '  File "/submission/hw2.py", line 88, in <listcomp>',
       "MemoryError: cannot allocate 1.0 GiB",
       "\x1b[31mKilled\x1b[0m"])


def crashed_result(student: str = "carol_crashed") -> EvaluationResult:
    """The student process exceeded the memory limit at import time: zero score."""
    check = CheckReport(
        student, "ece661-hw2", False,
        [ModelReport("simplenn", "SimpleNN (Lab 1)", False,
                     error="the submission crashed before its models could be built")],
        [failed("submission.runs", "the submission was killed: memory limit of 4 GiB "
                "exceeded", "Do not allocate large tensors at import time; put experiments "
                "under `if __name__ == \"__main__\":`.")],
        None,
        SandboxReport(status="memory", exit_code=137, seconds=9.7,
                      reason="memory limit of 4 GiB exceeded", output=CRASH_OUTPUT),
        files=["hw2.py"])
    reason = "the submission crashed: memory limit of 4 GiB exceeded"
    items = [ItemScore(i, title, 0.0, points, [f"{reason} (-{points:g})"])
             for i, title, points in HW2_ITEMS]
    return _hw2(student, status="crashed", error=reason, check=check, training=[],
                predictions=None, rubric=items)


def tiny_imagenet_result(student: str = "dave_tiny") -> EvaluationResult:
    """Tiny ImageNet: one ResNet-18 for 200 classes; predictions.csv at about 48%."""
    rng = np.random.default_rng(7)
    recalls = np.clip(rng.normal(0.48, 0.12, 200), 0.05, 0.95).round(2).tolist()
    ref_recalls = np.clip(np.asarray(recalls) + 0.04, 0, 1).round(2).tolist()
    names = [f"n{1440764 + 37 * i:08d}" for i in range(200)]
    model = ModelReport("resnet18", "ResNet-18 for 200 classes", True, "ResNet18",
                        "tiny.ipynb cell 3", 1, params=11_271_432,
                        expected_params="11,000,000 to 11,400,000", output_shape=[1, 200],
                        flops=2_220_000_000)
    check = CheckReport(student, "tiny-imagenet", True, [model],
                        model_checks("resnet18", 11_271_432)
                        + [passed("predictions.format", "10,000 rows")],
                        PredictionsReport(True, True, rows=10000),
                        SandboxReport(seconds=31.0), files=["tiny.ipynb", "predictions.csv"])
    items = [ItemScore("model", "ResNet-18 builds and gives 200 class scores per 64x64 image",
                       30.0, 30.0),
             ItemScore("accuracy", "ResNet-18 trains as well as the reference", 27.5, 30.0,
                       ["held-out accuracy is 86% of the reference's (full marks from 90%) "
                        "(-2.5)"]),
             ItemScore("predictions", "Held-out accuracy of predictions.csv", 16.0, 40.0,
                       ["accuracy 48.0% is below full marks at 70% (-24)"])]
    return EvaluationResult(
        student=student, assignment="tiny-imagenet", course=COURSE,
        title="Tiny ImageNet: ResNet-18", grader_version="0.1.0", created=CREATED,
        status="failed", error=None, check=check,
        training=[TrainingResult("resnet18", True, history(0.30, 2, 5.3),
                                 scores(recalls, per_class=50, seed=8), 300.0, 410.0)],
        reference=[TrainingResult("resnet18", True, history(0.34, 2, 5.1),
                                  scores(ref_recalls, per_class=50, seed=9), 290.0, 420.0)],
        predictions=scores(recalls, per_class=50, seed=10), rubric=items,
        total=73.5, possible=100.0, class_names=names, dataset="synthetic (seed 0)",
        device="cpu")


def no_check_result(student: str = "erin_nocheck") -> EvaluationResult:
    """Evaluation stopped before `check` ran (no check report, nothing trained)."""
    return replace(crashed_result(student), check=None,
                   error="the submission folder has no .py or .ipynb file")


def class_of(n: int = 10) -> list[EvaluationResult]:
    """n results for the class summary and the benchmark: good, failing and crashed ones."""
    makers = [good_result, failing_result, good_result, crashed_result, good_result]
    out = []
    for i in range(n):
        r = makers[i % len(makers)](f"student_{i:02d}")
        if r.status == "ok" and i % 2:   # vary the totals a little
            items = [replace(r.rubric[-1], earned=20.0,
                             reasons=["accuracy 86.0% is below the 90% target (-5)"])]
            rubric_items = r.rubric[:-1] + items
            r = replace(r, rubric=rubric_items, total=sum(x.earned for x in rubric_items))
        out.append(r)
    return out


def split_result(student: str = "gina_split") -> EvaluationResult:
    """good_result under a [held_out] split of 30% public, 70% private: every held-out figure
    is the private part's, with the public part's beside it. predictions.csv reaches its target
    on the private part (full marks) but not on the public one (15 of 25), and ResNet-20 loses
    points on the private part (12 of 15) but not on the public one."""
    good = good_result(student)
    public = {"lab1-accuracy": (10.0, []), "lab2-accuracy": (10.0, []),
              "lab3-accuracy": (15.0, []),
              "predictions-accuracy": (15.0, ["predictions.csv scored 82% on the public 30% of "
                                              "the held-out test set (full points at 90%, none "
                                              "at or below 50%)"])}
    private = {"lab3-accuracy": (12.0, ["ResNet-20 (Lab 3) reached 61% after retraining, on "
                                        "the private 70% of the held-out images"])}
    items = []
    for item in good.rubric:
        if item.id in private:
            item = replace(item, earned=private[item.id][0], reasons=private[item.id][1])
        if item.id in public:
            item = replace(item, public_earned=public[item.id][0],
                           public_reasons=public[item.id][1])
        items.append(item)
    preds = replace(good.predictions, public_accuracy=0.82, public_images=3000)
    train = [replace(t, scores=replace(t.scores, public_accuracy=t.scores.accuracy - 0.02,
                                       public_images=600)) for t in good.training]
    return replace(good, rubric=items, predictions=preds, training=train,
                   total=sum(i.earned for i in items), public_fraction=0.3)


# ---------------------------------------------------------------- ECE 661 HW4: own weights

def lab_resnet20_weights(sparsity: float = 0.7, seed: int = 0) -> list:
    """The conv and linear layers of the course's ResNetCIFAR(num_layers=20) (FP_Conv's inner
    `conv`, FP_Linear's `linear`), in the model's order, each near `sparsity` (the stem and the
    classifier less pruned, as global pruning leaves them) with float32's distinct values."""
    import math

    from grader.results import LayerWeights
    shapes = [("head_conv.0.conv", "Conv2d", 16 * 3 * 9)]
    c_in = 16
    for i, c in enumerate([16] * 3 + [32] * 3 + [64] * 3):
        shapes += [(f"body_op.{i}.conv1.0.conv", "Conv2d", c_in * c * 9),
                   (f"body_op.{i}.conv2.0.conv", "Conv2d", c * c * 9)]
        if c_in != c:
            shapes.append((f"body_op.{i}.id_mapping.0.conv", "Conv2d", c_in * c))
        c_in = c
    shapes.append(("final_fc.linear", "Linear", 64 * 10))
    layers = []
    for i, (name, kind, n) in enumerate(shapes):
        edge = name.startswith(("head", "final"))
        wobble = 0.04 * (-1) ** (i + seed) if sparsity > 0 and not edge else 0.0
        s = min(1.0, max(0.0, sparsity * (0.6 if edge else 1.0) + wobble))
        zeros = round(s * n)
        distinct = n - zeros + (1 if zeros else 0)
        layers.append(LayerWeights(name, kind, n, zeros / n, distinct,
                                   max(1, math.ceil(math.log2(distinct)))))
    return layers


def pruned_result(student: str = "kira_pruned", *, sparsity: float = 0.7,
                  agreement: float = 0.9991, accuracy: float = 0.861,
                  compared: int = 10000) -> EvaluationResult:
    """ECE 661 HW4 graded from the student's pruned checkpoint (no retraining): ResNetCIFAR,
    `net_after_global_iterative_prune.pt` loaded, about `sparsity` of its conv and linear
    weights zero, scored at `accuracy`, agreeing with predictions.csv on `agreement` of the
    `compared` held-out images."""
    from grader.results import Sparsity, WeightsReport
    layers = lab_resnet20_weights(sparsity)
    total = sum(layer.params for layer in layers)
    zeros = sum(round(layer.sparsity * layer.params) for layer in layers)
    conv = [layer for layer in layers if layer.type == "Conv2d"]
    conv_zeros = sum(round(layer.sparsity * layer.params) for layer in conv)
    weights = WeightsReport(
        file="net_after_global_iterative_prune.pt", loaded=True, format="state_dict",
        bytes=1_139_391, sparsity=Sparsity(zeros / total,
                                           conv_zeros / sum(layer.params for layer in conv),
                                           layers[-1].sparsity),
        layers=layers, bits=max(layer.bits for layer in layers), nonzero=total - zeros,
        accuracy=accuracy, agreement=agreement, compared=compared)
    model = ModelReport("resnet20", "ResNet-20, pruned", True, "ResNetCIFAR", "resnet20.py", 37,
                        candidates=["ResNetCIFAR", "ResNet_Block", "FP_Conv", "FP_Linear"],
                        params=272474, expected_params="272,474", output_shape=[1, 10],
                        flops=41_200_000, weights=weights)
    checks = (model_checks("resnet20", 272474)
              + [passed("resnet20.weights", "net_after_global_iterative_prune.pt loaded: "
                        f"{100 * zeros / total:.1f}% of the conv and linear weights are zero",
                        "resnet20"),
                 passed("predictions.format", "10,000 rows, ids 0 to 9,999, labels valid")])
    check = CheckReport(student, "ece661-hw4-prune", True, [model], checks,
                        PredictionsReport(True, True, rows=10000),
                        SandboxReport(status="ok", exit_code=0, seconds=9.1),
                        files=["hw4.ipynb", "resnet20.py", "FP_layers.py",
                               "net_after_global_iterative_prune.pt", "predictions.csv"])
    items = [ItemScore("model", "The course's ResNet-20 (ResNetCIFAR) builds with 272,474 "
                       "parameters", 10.0, 10.0),
             ItemScore("checkpoint", "The pruned checkpoint loads into the model", 10.0, 10.0),
             ItemScore("accuracy", "Held-out accuracy of your pruned weights", 30.0, 30.0),
             ItemScore("sparsity", "Global sparsity of the conv and linear weights (target "
                       "70%)", round(40 * min(1.0, zeros / total / 0.7), 2), 40.0,
                       [f"{100 * zeros / total:.1f}% of the weights are zero (full points at "
                        "70%, none at 0%)"] if zeros / total < 0.7 else []),
             ItemScore("predictions-format", "predictions.csv is well formed", 5.0, 5.0),
             ItemScore("predictions-accuracy", "Held-out accuracy of predictions.csv", 5.0, 5.0)]
    preds = scores([0.9, 0.93, 0.8, 0.72, 0.86, 0.8, 0.9, 0.9, 0.93, 0.88], seed=20)
    return EvaluationResult(
        student=student, assignment="ece661-hw4-prune", course=COURSE,
        title="Homework 4: Sparsity (pruning a ResNet-20)", grader_version="0.3.0",
        created=CREATED, status="ok", error=None, check=check, training=[], reference=[],
        predictions=preds, rubric=items, total=sum(i.earned for i in items),
        possible=sum(i.possible for i in items), class_names=list(CIFAR10_CLASSES),
        dataset="synthetic (seed 0)", device="cpu")


# ---------------------------------------------------------------- other task kinds (issue 20)

HW5_CLASSES = ["bus", "cat", "pizza"]
SENTIMENT_CLASSES = ["negative", "positive"]


def thumbnail(seed: int, box: list[float], label: int, size: int = 64) -> str:
    """A held-out image as BoxExample carries it: a base64 PNG of a noisy background with one
    object of the class's colour filling `box` (x1, y1, x2, y2 in 0..1)."""
    import base64
    import io

    from PIL import Image

    rng = np.random.default_rng(seed)
    image = rng.integers(90, 170, (size, size, 3)).astype(np.uint8)
    x1, y1, x2, y2 = (int(round(v * size)) for v in box)
    colour = [(230, 190, 40), (120, 80, 50), (200, 60, 40)][label % 3]
    image[y1:y2, x1:x2] = np.clip(np.asarray(colour) + rng.integers(-25, 25, (y2 - y1, x2 - x1,
                                                                             3)), 0, 255)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def box_scores(mean: float, count: int = 300, seed: int = 0, examples: int = 8,
               xywh: bool = False, threshold: float = 0.5):
    """BoxScores with `count` per-image IoUs around `mean` and `examples` drawn examples (true
    box, a predicted box near it, IoU computed from the two). With `xywh`, the predicted boxes
    are the true ones read as x, y, width, height: the typical mistake."""
    from grader.results import BoxExample, BoxScores

    rng = np.random.default_rng(seed)
    ious = np.clip(rng.normal(mean, 0.16, count), 0.0, 0.97).round(4)
    shown = []
    for i in range(examples):
        x1, y1 = (float(v) for v in rng.uniform(0.05, 0.45, 2))
        w, h = (float(v) for v in rng.uniform(0.3, 0.5, 2))
        true = [x1, y1, x1 + w, y1 + h]
        if xywh:
            pred = [x1, y1, w, h]
        else:
            jitter = rng.normal(0, 0.06 * (1.2 - mean), 4)
            pred = np.clip(np.asarray(true) + jitter, 0, 1).tolist()
        ix = max(0.0, min(true[2], pred[2]) - max(true[0], pred[0]))
        iy = max(0.0, min(true[3], pred[3]) - max(true[1], pred[1]))
        inter = ix * iy
        area = lambda b: max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])   # noqa: E731
        iou = inter / (area(true) + area(pred) - inter) if area(true) + area(pred) else 0.0
        label = i % 3
        predicted = label if i % 4 else (label + 1) % 3
        shown.append(BoxExample(index=17 * i + seed, label=label, predicted=predicted,
                                box=[round(v, 4) for v in true],
                                predicted_box=[round(float(v), 4) for v in pred],
                                iou=round(float(iou), 4),
                                thumbnail=thumbnail(100 * seed + i, true, label)))
    ious[:examples] = [e.iou for e in shown]
    return BoxScores(mean_iou=round(float(ious.mean()), 4),
                     hits=round(float((ious >= threshold).mean()), 4), threshold=threshold,
                     ious=ious.tolist(), examples=shown)


def localization_result(student: str = "ivan_hw5", *, xywh: bool = False) -> EvaluationResult:
    """ECE 60146 HW5 (2023): one HW5Net with heads label [B, 3] and box [B, 4], retrained beside
    the reference under 3 seeds (accuracy and mean IoU per epoch), and predictions.csv with
    boxes. With `xywh`, the student's boxes are x, y, width, height: low IoU."""
    from grader.results import HeadShape, ReferenceBand

    mean = 0.18 if xywh else 0.61
    heads = [HeadShape("label", "label", [1, 3], "(B, 3)"),
             HeadShape("box", "box", [1, 4], "(B, 4)")]
    model = ModelReport("net", "HW5Net (classification and box)", True, "HW5Net",
                        "hw5_localization.py", 41, candidates=["HW5Net", "ResnetBlock"],
                        params=6_843_011, output_shape=[1, 3], flops=4_850_000_000,
                        call="HW5Net(3, 8)", heads=heads, param_tensors=62)
    checks = [passed("net.found", "class found", "net"),
              passed("net.builds", "builds as HW5Net(3, 8)", "net"),
              passed("net.output_shape", "heads label [1, 3] and box [1, 4] for one 3x256x256 "
                     "image", "net"),
              passed("net.param_tensors", "62 parameter tensors (at least 50)", "net"),
              passed("predictions.format", "300 rows, ids 0 to 299, labels and boxes valid")]
    check = CheckReport(student, "ece60146-hw5-2023", True, [model], checks,
                        PredictionsReport(True, True, rows=300),
                        SandboxReport(status="ok", exit_code=0, seconds=21.4),
                        files=["hw5_localization.py", "predictions.csv"])
    hist = [replace(h, val_iou=round(0.1 + (mean - 0.1) * h.epoch / 4, 4))
            for h in history(0.78, 4, 1.6)]
    ref_hist = [replace(h, val_iou=round(0.1 + 0.55 * h.epoch / 4, 4))
                for h in history(0.82, 4, 1.5)]
    run = TrainingResult("net", True, hist, replace(scores([0.82, 0.74, 0.78], per_class=100,
                                                           seed=30),
                                                    boxes=box_scores(mean, seed=1, xywh=xywh)),
                         seconds=96.0, images_per_second=310.0)
    ref = TrainingResult("net", True, ref_hist,
                         replace(scores([0.86, 0.78, 0.82], per_class=100, seed=31),
                                 boxes=box_scores(0.65, seed=2)),
                         seconds=90.0, images_per_second=330.0, seed=0)
    band = ReferenceBand("net", [0, 1, 2], [0.82, 0.80, 0.84], 0.82, 0.02, 0.334, 0.40, True,
                         ious=[0.65, 0.63, 0.67], hits=[0.82, 0.79, 0.85])
    preds = replace(scores([0.84, 0.76, 0.80], per_class=100, seed=32),
                    boxes=box_scores(mean + 0.03, seed=3, xywh=xywh))
    iou_reason = ([f"mean IoU {mean:.2f} of your retrained HW5Net is {mean / 0.65:.0%} of the "
                   "reference's (full marks from 90%) (-10)"] if xywh else [])
    items = [ItemScore("model", "HW5Net builds with heads label [B, 3] and box [B, 4]", 10.0,
                       10.0),
             ItemScore("layers", "At least 50 learnable layers", 10.0, 10.0),
             ItemScore("accuracy", "HW5Net's classification trains as well as the reference",
                       20.0, 20.0),
             ItemScore("iou", "HW5Net's boxes: mean IoU beside the reference's",
                       10.0 if xywh else 20.0, 20.0, iou_reason),
             ItemScore("predictions-format", "predictions.csv is well formed", 10.0, 10.0),
             ItemScore("predictions-iou", "Mean IoU of predictions.csv's boxes",
                       8.0 if xywh else 30.0, 30.0,
                       ["mean IoU 0.21 is below full marks at 0.60 (-22)"] if xywh else [])]
    return EvaluationResult(
        student=student, assignment="ece60146-hw5-2023", course="ECE 60146: Deep Learning",
        title="Homework 5: Single-Object Localization", grader_version="0.5.0",
        created=CREATED, status="ok", error=None, check=check, training=[run],
        reference=[ref], predictions=preds, rubric=items, total=sum(i.earned for i in items),
        possible=sum(i.possible for i in items), class_names=list(HW5_CLASSES),
        dataset="synthetic (seed 0)", device="cpu", reference_bands=[band],
        task="localization")


def sequence_result(student: str = "jules_rnn") -> EvaluationResult:
    """ECE 661 HW3 LabRNN: an LSTM and a GRU, forward(ids, length) -> [B, 2], two classes
    (negative, positive), no predictions.csv."""
    from grader.results import HeadShape

    def model(key: str, title: str, name: str, params: int) -> ModelReport:
        return ModelReport(key, title, True, name, "LabRNN.ipynb cell 7", 3, params=params,
                           output_shape=[1, 2], heads=[HeadShape("label", "label", [1, 2],
                                                                 "(B, 2)")],
                           param_tensors=8)

    models = [model("lstm", "LSTM classifier", "LSTMModel", 2_733_890),
              model("gru", "GRU classifier", "GRUModel", 2_667_842)]
    checks = [passed(f"{k}.{c}", m, k) for k in ("lstm", "gru")
              for c, m in (("found", "class found"), ("output_shape", "label [1, 2] for one "
                                                      "sequence of 12 tokens"))]
    check = CheckReport(student, "ece661-hw3-rnn", True, models, checks, None,
                        SandboxReport(status="ok", exit_code=0, seconds=12.0),
                        files=["LabRNN.ipynb"])
    train = [TrainingResult("lstm", True, history(0.81, 3, 0.69),
                            scores([0.84, 0.78], per_class=500, seed=40), 60.0, 800.0),
             TrainingResult("gru", True, history(0.83, 3, 0.69),
                            scores([0.85, 0.81], per_class=500, seed=41), 55.0, 850.0)]
    ref = [TrainingResult("lstm", True, history(0.84, 3, 0.69),
                          scores([0.86, 0.82], per_class=500, seed=42), 58.0, 820.0),
           TrainingResult("gru", True, history(0.85, 3, 0.69),
                          scores([0.87, 0.83], per_class=500, seed=43), 54.0, 860.0)]
    items = [ItemScore("lstm-accuracy", "LSTM trains as well as the reference", 20.0, 20.0),
             ItemScore("gru-accuracy", "GRU trains as well as the reference", 20.0, 20.0)]
    return EvaluationResult(
        student=student, assignment="ece661-hw3-rnn", course=COURSE,
        title="Homework 3: Recurrent Networks (LabRNN)", grader_version="0.5.0",
        created=CREATED, status="ok", error=None, check=check, training=train, reference=ref,
        predictions=None, rubric=items, total=40.0, possible=40.0,
        class_names=list(SENTIMENT_CLASSES), dataset="synthetic (seed 0)", device="cpu",
        task="sequence")
