"""reference.train: the canonical routine learns, is deterministic, augments batch-wise and
follows its learning-rate schedules."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader.inputs.data import load_cifar10, write_synthetic_cifar10
from reference import build
from reference.train import (History, TrainConfig, augment, channel_stats, learning_rate,
                             predict, train)
from tests.factories.specs import simplenn_spec


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Other jobs share this 2-core machine: two OpenMP threads that spin-wait for each other
    under contention run several times slower than one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = write_synthetic_cifar10(tmp_path_factory.mktemp("synthetic"), seed=0, n_train=2000,
                                   n_test=1000)
    return load_cifar10(root)


def tiny(n: int = 96, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 256, (n, 32, 32, 3), dtype=torch.uint8, generator=g),
            torch.randint(0, 10, (n,), generator=g))


def accuracy(predictions: torch.Tensor, labels: np.ndarray) -> float:
    return float((predictions.numpy() == labels).mean())


@pytest.mark.slow
def test_simplenn_learns_and_beats_a_linear_model(synthetic):
    config = TrainConfig(epochs=6, batch_size=64, lr=0.05, schedule="cosine", augment=False)
    scores = {}
    for name in ("simplenn", "linear"):
        torch.manual_seed(0)
        model = build("simplenn") if name == "simplenn" else \
            nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
        history = train(model, synthetic.train_images, synthetic.train_labels, config)
        predictions = predict(model, synthetic.test_images, mean=history.mean, std=history.std)
        scores[name] = accuracy(predictions, synthetic.test_labels)
        assert len(history.train_loss) == 6 and history.train_loss[-1] < history.train_loss[0]
    assert scores["simplenn"] > 0.5, scores                     # chance is 0.1
    # the colour lean of each class (synthetic version 2) is a linear cue; the shapes are not
    assert scores["simplenn"] > scores["linear"] + 0.1, scores


def test_same_seed_same_weights_and_caller_rng_untouched():
    x, y = tiny()
    config = TrainConfig(epochs=2, batch_size=32, lr=0.05, augment=True, seed=3)
    states = []
    for seed in (3, 3, 4):
        torch.manual_seed(0)
        model = nn.Sequential(build("simplenn-bn"), nn.Dropout(0.3))
        before = torch.random.get_rng_state()
        train(model, x, y, TrainConfig(**{**config.__dict__, "seed": seed}))
        assert torch.equal(torch.random.get_rng_state(), before)
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert not all(torch.equal(states[0][k], states[2][k]) for k in states[0])


def test_history_and_eval_predictions():
    x, y = tiny()
    seen = []
    torch.manual_seed(0)
    model = build("simplenn")
    history = train(model, x, y, TrainConfig(epochs=3, batch_size=40), eval_images=x[:25].numpy(),
                    on_epoch=lambda epoch, log: seen.append((epoch, log.train_loss)))
    assert isinstance(history, History)
    assert seen == [(1, history.train_loss[0]), (2, history.train_loss[1]),
                    (3, history.train_loss[2])]
    assert all(0.0 <= a <= 1.0 for a in history.train_accuracy)
    for p in history.eval_predictions:
        assert p.dtype == torch.int64 and p.shape == (25,)
        assert 0 <= int(p.min()) <= int(p.max()) < 10
    assert torch.equal(history.final_predictions,
                       predict(model, x[:25], mean=history.mean, std=history.std))
    assert history.images_per_second > 0 and history.seconds > 0
    plain = json.loads(json.dumps(history.to_dict(), allow_nan=False))
    assert plain["epochs"][2]["eval_predictions"] == history.final_predictions.tolist()
    assert not model.training


def test_augment_keeps_shape_and_dtype_and_crops_and_flips():
    x, _ = tiny(200)
    g = torch.Generator().manual_seed(0)
    out = augment(x, g)
    assert out.shape == x.shape and out.dtype == torch.uint8 and out.device == x.device
    assert not torch.equal(out, x)
    padded = F.pad(x, (0, 0, 4, 4, 4, 4))
    flipped = 0
    for i in range(len(x)):                  # each output is one crop of the padded image,
        matches = [(dy, dx, flip)            # mirrored or not
                   for dy in range(9) for dx in range(9) for flip in (False, True)
                   if torch.equal(out[i], (lambda c: c.flip(1) if flip else c)(
                       padded[i, dy:dy + 32, dx:dx + 32]))]
        assert matches, i
        flipped += matches[0][2]
    assert 60 < flipped < 140                # about half
    assert torch.equal(augment(x, torch.Generator().manual_seed(0)), out)


def test_augment_shifts_in_zero_padding():
    x = torch.full((64, 32, 32, 3), 255, dtype=torch.uint8)
    out = augment(x, torch.Generator().manual_seed(1))
    black_rows = (out.amax(dim=(2, 3)) == 0).sum(1)             # per image
    assert black_rows.max() > 0 and (black_rows <= 4).all()


def crop_and_flip_one_by_one(x: torch.Tensor, seed: int, padding: int = 4) -> torch.Tensor:
    """The CPU version, image by image as torchvision's RandomCrop + RandomHorizontalFlip do it,
    with the offsets and flips drawn from a CPU generator in augment's order."""
    n, h, w, _ = x.shape
    g = torch.Generator().manual_seed(seed)
    dy = torch.randint(0, 2 * padding + 1, (n, 1), generator=g)[:, 0].tolist()
    dx = torch.randint(0, 2 * padding + 1, (n, 1), generator=g)[:, 0].tolist()
    flip = torch.randint(0, 2, (n, 1), generator=g)[:, 0].tolist()
    padded = F.pad(x, (0, 0, padding, padding, padding, padding))
    out = [padded[i, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)]
    return torch.stack([o.flip(1) if f else o for o, f in zip(out, flip)])


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
@pytest.mark.parametrize("seed", [0, 7])
def test_augment_on_the_device_matches_the_cpu_version_for_the_same_seed(device, seed):
    """The batched gather on `device` (the GPU-side augmentation) against the per-image CPU
    version, with the same seed: a CPU generator gives the same crops on every device."""
    x, _ = tiny(300, seed=seed)
    on_device = augment(x.to(device), torch.Generator().manual_seed(seed))
    assert on_device.device.type == device and on_device.dtype == torch.uint8
    assert torch.equal(on_device.cpu(), crop_and_flip_one_by_one(x, seed))
    assert torch.equal(on_device.cpu(), augment(x, torch.Generator().manual_seed(seed)))


@pytest.mark.gpu
def test_augment_with_a_cuda_generator_stays_on_the_gpu_and_crops():
    """Training draws on a generator of its own device: other draws than the CPU's (CUDA's
    Philox is another stream), still one padded crop per image, mirrored or not."""
    x, _ = tiny(64)
    g = torch.Generator(device="cuda").manual_seed(0)
    out = augment(x.cuda(), g).cpu()
    padded = F.pad(x, (0, 0, 4, 4, 4, 4))
    for i in range(len(x)):
        assert any(torch.equal(out[i], c.flip(1) if f else c)
                   for dy in range(9) for dx in range(9) for f in (False, True)
                   for c in [padded[i, dy:dy + 32, dx:dx + 32]]), i


def test_speed_switches_default_on_and_off_leaves_the_formats_out():
    config = TrainConfig()
    assert (config.resident, config.channels_last, config.bf16, config.cudnn_benchmark) == \
        (True, True, True, True)
    x, y = tiny(64)
    formats = {}
    for last in (True, False):
        torch.manual_seed(0)
        history = train(build("simplenn"), x, y, TrainConfig(epochs=1, batch_size=32,
                                                              channels_last=last))
        formats[last] = history.channels_last
    assert formats == {True: True, False: False}      # on the CPU: channels_last when allowed


def test_resident_off_trains_the_same_on_the_cpu():
    """On the CPU the training set is on the host either way: the switch changes nothing."""
    x, y = tiny(96)
    states = []
    for resident in (True, False):
        torch.manual_seed(0)
        model = build("simplenn-bn")
        train(model, x, y, TrainConfig(epochs=1, batch_size=32, resident=resident))
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


@pytest.mark.parametrize("schedule", ["step", "cosine", "onecycle"])
def test_schedules_match_torch_schedulers(schedule):
    epochs, steps = 5, 7
    config = TrainConfig(epochs=epochs, lr=0.1, schedule=schedule, milestones=(2, 4), gamma=0.1)
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    if schedule == "step":
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 4], gamma=0.1)
    elif schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps)
    else:
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=epochs * steps,
                                                    cycle_momentum=False)
    expected = []
    for epoch in range(epochs):
        for _ in range(steps):
            expected.append(opt.param_groups[0]["lr"])
            opt.step()
            if schedule != "step":
                sched.step()
        if schedule == "step":
            sched.step()
    ours = [learning_rate(config, s, steps) for s in range(epochs * steps)]
    assert ours == pytest.approx(expected, rel=1e-6, abs=1e-12)


def test_history_records_the_lr_of_each_epoch():
    x, y = tiny(64)
    config = TrainConfig(epochs=3, batch_size=32, lr=0.1, schedule="step", milestones=(1, 2))
    history = train(nn.Sequential(nn.Flatten(), nn.Linear(3072, 10)), x, y, config)
    assert history.lr == pytest.approx([0.1, 0.01, 0.001])
    assert learning_rate(TrainConfig(lr=0.3), 1234, 10) == 0.3            # "none"


def test_divergence_stops_training():
    class Exploding(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3072, 10)

        def forward(self, x):
            return self.fc(x.flatten(1)) * float("nan")

    x, y = tiny(64)
    history = train(Exploding(), x, y, TrainConfig(epochs=4, batch_size=32))
    assert history.diverged and len(history.epochs) == 1 and math.isnan(history.train_loss[0])
    assert history.to_dict()["epochs"][0]["train_loss"] is None


def test_view_after_conv_falls_back_to_contiguous():
    class ViewNet(nn.Module):             # as DLStudio's Net writes it: x.view(-1, 16 * 5 * 5)
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 5)
            self.fc = nn.Linear(4 * 28 * 28, 10)

        def forward(self, x):
            return self.fc(F.relu(self.conv(x)).view(-1, 4 * 28 * 28))

    x, y = tiny(40)
    assert not train(ViewNet(), x, y, TrainConfig(epochs=1, batch_size=20)).channels_last
    assert train(build("simplenn"), x, y, TrainConfig(epochs=1, batch_size=20)).channels_last


def test_inputs_are_validated():
    x, y = tiny(8)
    with pytest.raises(ValueError, match="N x C x H x W"):
        train(build("simplenn"), x.permute(0, 3, 1, 2), y, TrainConfig(epochs=1))
    with pytest.raises(ValueError, match="uint8"):
        train(build("simplenn"), x.float(), y, TrainConfig(epochs=1))
    with pytest.raises(ValueError, match="train_labels"):
        train(build("simplenn"), x, y[:5], TrainConfig(epochs=1))
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="exponential")


def test_channel_stats_and_json_config():
    x, _ = tiny(16)
    mean, std = channel_stats(x)
    values = x.numpy().reshape(-1, 3) / 255
    assert mean == pytest.approx(values.mean(0)) and std == pytest.approx(values.std(0))
    config = TrainConfig(**json.loads(json.dumps({"milestones": [1, 2], "epochs": 3})))
    assert config.milestones == (1, 2)


@pytest.mark.gpu
def test_cuda_training_uses_channels_last_and_bf16():
    x, y = tiny(256)
    torch.manual_seed(0)
    model = build("resnet20-a")
    history = train(model, x, y, TrainConfig(epochs=2, batch_size=64), eval_images=x[:100],
                    device="cuda")
    assert history.channels_last and history.bf16 and history.device.startswith("cuda")
    assert history.final_predictions.shape == (100,) and not history.diverged
    assert next(model.parameters()).is_cuda
    assert torch.backends.cudnn.benchmark


@pytest.mark.gpu
def test_cuda_speed_switches_off_train_in_float32_nchw_from_the_host():
    """Each switch off, as benchmarks/bench_gpu_train.py times them: the training set kept on
    the host, contiguous float32, cuDNN's autotuner off; the model still learns its batches."""
    x, y = tiny(256)
    torch.manual_seed(0)
    model = build("resnet20-a")
    history = train(model, x, y, TrainConfig(epochs=2, batch_size=64, resident=False,
                                             channels_last=False, bf16=False,
                                             cudnn_benchmark=False),
                    eval_images=x[:100], device="cuda")
    assert not history.channels_last and not history.bf16 and not torch.backends.cudnn.benchmark
    assert history.device.startswith("cuda") and not history.diverged
    assert history.final_predictions.shape == (100,)
    torch.backends.cudnn.benchmark = True


# ---- grading budgets: a reference at chance, several seeds, tampering while training -------------

CHANCE_SPEC = simplenn_spec("""
[assignment]
course = "Test course"
title = "A budget too small to learn"
required_files = ["*.py"]

[dataset]
synthetic_train = 200
synthetic_test = 300

[training]
epochs = 1
batch_size = 50
lr = 1e-6                 # 4 steps at this rate: the reference stays at chance
seed = 0
reference_seeds = 2
eval_images = 200         # of the 300 held-out images

[limits]
wall_seconds = 60
train_wall_seconds = 120
memory_mb = 2048

""", accuracy_zero=0.5, accuracy_points=20, predictions=False)

# replaces a torch function only while it is trained (not while `check` probes it)
SNEAKY = '''
        if self.training and torch.is_grad_enabled():
            torch.Tensor.numel = lambda self: 1
'''


@pytest.mark.slow
def test_reference_at_chance_is_reported_loudly_and_not_graded(tmp_path, simplenn_source,
                                                                monkeypatch):
    """The whole path, sandbox included: a budget under which the reference (two seeds) stays
    at chance gives the warning on the terminal and in the JSON result, and the relative item
    is not gradable for anyone; a student who tampers with torch while retrained is caught."""
    import json

    from click.testing import CliRunner

    from grader.cli import main
    from grader.results import load

    spec = tmp_path / "chance.toml"
    spec.write_text(CHANCE_SPEC)
    klass = tmp_path / "class"
    (klass / "honest").mkdir(parents=True)
    (klass / "honest" / "model.py").write_text(simplenn_source)
    (klass / "sneaky").mkdir()
    (klass / "sneaky" / "model.py").write_text(simplenn_source.replace(
        "    def forward(self, x):\n", "    def forward(self, x):\n" + SNEAKY))
    out = tmp_path / "grades"
    monkeypatch.setenv("GRADER_CACHE", str(tmp_path / "cache"))
    result = CliRunner().invoke(main, ["evaluate", str(klass), "--assignment", str(spec),
                                       "--out", str(out), "--jobs", "1"])
    assert result.exit_code == 1, result.output + result.stderr
    honest, sneaky = load(out / "honest.json"), load(out / "sneaky.json")
    (band,) = honest.reference_bands
    assert band.model == "simplenn" and band.seeds == [0, 1] and len(band.accuracies) == 2
    # chance: the most common class's share of the 200 scored labels (10 classes, not
    # exactly balanced in the first 200 of 300)
    assert 0.1 <= band.chance < 0.15
    assert band.threshold == pytest.approx(band.chance + 0.1 * (1 - band.chance))
    assert not band.learned and band.mean - band.spread < band.threshold
    assert "does not clearly beat chance" in band.note
    # loud: the progress line and the table's warning, and the JSON field
    assert f"WARNING: {band.note}" in result.stderr          # when the reference is trained
    assert f"WARNING: {band.note}" in result.stdout          # under the table
    raw = json.loads((out / "honest.json").read_text())
    assert raw["reference_bands"][0]["learned"] is False
    # the rubric decision: the item is left out of the total, for every student
    for graded in (honest, sneaky):
        item = next(i for i in graded.rubric if i.id == "accuracy")
        assert (item.earned, item.possible, item.gradable) == (0.0, 0.0, False)
        assert item.reasons[0].startswith("not gradable under this budget (20 points left out")
        assert graded.possible == 10
    assert honest.total == 10 and honest.training[0].ok
    # curves and figure on the same first 200 held-out images
    (run,) = honest.training
    assert sum(map(sum, run.scores.confusion)) == 200 and len(run.history) == 1
    assert run.history[-1].val_accuracy == run.scores.accuracy
    # tampering reported by the training harness is read: the run is not trusted
    (trained,) = sneaky.training
    assert not trained.ok and trained.tampering == ["torch.Tensor.numel"]
    assert "replaced torch functions while it was retrained (torch.Tensor.numel)" in \
        trained.error
    item = next(i for i in sneaky.rubric if i.id == "model")
    assert item.earned < 10 and any("simplenn.trains" in r for r in item.reasons)
    # both seeds' runs are cached by their inputs and reused
    assert len(list((tmp_path / "cache").glob("reference-simplenn-*.json"))) == 2


@pytest.mark.slow
def test_hw2_demo_budget_lets_every_small_reference_learn(tmp_path):
    """The README's main job: under ECE 661 HW2's own budget on its built-in synthetic data,
    SimpleNN and SimpleNN with BatchNorm clearly beat chance (version 1 of the data left
    SimpleNN at 17%); ResNet-20, slower to train, is measured in reference/README.md."""
    from grader import spec
    from grader.inputs.data import load_dataset
    from grader.grading.retrain import MIN_LIFT, train_config

    hw2 = spec.load("ece661-hw2")
    data = load_dataset(hw2.dataset, cache_dir=tmp_path)
    config = TrainConfig(**{k: v for k, v in train_config(hw2, None).items()
                            if k != "eval_images"})
    for model_id in ("simplenn", "simplenn-bn"):
        torch.manual_seed(0)
        model = build(model_id)
        history = train(model, data.train_images, data.train_labels, config)
        score = accuracy(predict(model, data.test_images[:2000], mean=history.mean,
                                 std=history.std), data.test_labels[:2000])
        assert score > 0.1 + MIN_LIFT * 0.9 + 0.2, (model_id, score)     # 19% + a wide margin
