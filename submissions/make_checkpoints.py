"""Write the ECE 661 HW4 (pruning) example hand-ins' checkpoints, predictions.csv files and
notebooks, from the built-in synthetic data:

    python submissions/make_checkpoints.py      # 5.5-8.5 minutes on a busy 2-core machine

    python submissions/make_checkpoints.py --notebooks-only   # after editing a notebook

(one torch thread by default: the committed files were made so, and the files depend on it).

What the three students did, as the lab asks (the course's `ResNetCIFAR(num_layers=20,
Nbits=None)` from kira/resnet20.py, trained by reference/train.py's fast canonical routine on
the synthetic training split instead of CIFAR-10):

- the course's `pretrained_model.pt`: the dense model every student starts from;
- kira: pruned globally by percentile to 30%, 50% and 70%, fine-tuned after each step with the
  pruned weights held at zero (their gradients masked); predictions.csv from those weights;
- leo: computed the same masks but never applied them (the line that multiplies the weights is
  commented out), fine-tuned with the gradients masked: nothing is zero; a checkpoint dict
  with `model_state_dict`; predictions.csv from those weights;
- mona: pruned like kira (her own seed), but her predictions.csv was written in Step 0 from the
  pretrained model and never again: it does not match the weights she hands in.

Everything is seeded: the same thread count gives the same files (torch's CPU kernels sum in
an order that depends on the thread count). The held-out images and the normalisation are the
grader's own (the synthetic held-out split; the training split's channel statistics, as the
sandbox computes them), so the accuracies the script prints are the ones `grader evaluate`
finds. Rerun it whenever the synthetic data or the lab's code changes.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

from grader.inputs.data import default_cache_dir, load_dataset  # noqa: E402
from grader.spec import load  # noqa: E402
from make_notebooks import COLAB, code, md, write  # noqa: E402
from reference.train import TrainConfig, predict, train  # noqa: E402

HERE = Path(__file__).resolve().parent / "ece661-hw4-prune"
STEPS = (30.0, 50.0, 70.0)          # the lab's iterative global pruning schedule (percentiles)

# The dense model: enough epochs on the 2,000 synthetic images to learn well above chance
# (about 75-80% held-out), so that pruning costs a visible but small part of it.
# Normalised as the lab's transforms do (Normalize((0.4914, 0.4822, 0.4465), (0.2023, 0.1994,
# 0.2010))), and as the spec's [weights] mean and std tell the grader to score them.
LAB_MEAN, LAB_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
DENSE = TrainConfig(epochs=4, batch_size=64, lr=0.05, weight_decay=5e-4, schedule="cosine",
                    augment=True, seed=0, mean=LAB_MEAN, std=LAB_STD)
# One fine-tuning epoch after each pruning step, at a tenth of the learning rate.
FINETUNE = TrainConfig(epochs=1, batch_size=64, lr=0.01, weight_decay=5e-4, schedule="cosine",
                       augment=True, seed=0, mean=LAB_MEAN, std=LAB_STD)


def lab_model() -> type[nn.Module]:
    """ResNetCIFAR from the course's resnet20.py (and FP_layers.py) as kira hands them in."""
    folder = HERE / "kira"
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location("hw4_resnet20", folder / "resnet20.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    return module.ResNetCIFAR


def layers(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """The conv and linear layers the lab prunes (FP_Conv's `conv`, FP_Linear's `linear`)."""
    return [(n, m) for n, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def global_masks(net: nn.Module, q: float) -> dict[str, torch.Tensor]:
    """The lab's global pruning: one threshold, the q-th percentile of |w| over every layer."""
    magnitudes = np.concatenate([m.weight.detach().abs().flatten().numpy()
                                 for _, m in layers(net)])
    threshold = np.percentile(magnitudes, q)
    return {n: (m.weight.detach().abs() > threshold).float() for n, m in layers(net)}


def finetune(net: nn.Module, data, masks: dict[str, torch.Tensor], seed: int) -> None:
    """finetune_after_prune: the pruned weights' gradients are masked, so SGD (momentum and
    weight decay included) leaves a zero weight at exactly zero."""
    hooks = [m.weight.register_hook(lambda g, mask=masks[n]: g * mask) for n, m in layers(net)]
    try:
        train(net, data.train_images, data.train_labels,
              TrainConfig(**{**FINETUNE.__dict__, "seed": seed}))
    finally:
        for hook in hooks:
            hook.remove()


def sparsity(net: nn.Module) -> float:
    zeros = sum(int((m.weight == 0).sum()) for _, m in layers(net))
    return zeros / sum(m.weight.numel() for _, m in layers(net))


def iterative_prune(dense: nn.Module, data, seed: int, *, apply: bool = True) -> nn.Module:
    """Prune globally to each of STEPS and fine-tune after each; with apply=False the masks
    are computed and held on the gradients, but the weights are never multiplied by them."""
    net = copy.deepcopy(dense)
    for step, q in enumerate(STEPS):
        masks = global_masks(net, q)
        if apply:
            with torch.no_grad():
                for n, m in layers(net):
                    m.weight.mul_(masks[n])
        finetune(net, data, masks, seed * 10 + step)
    return net


def write_predictions(path: Path, labels: np.ndarray, end: str = "\n") -> None:
    """The course's format: `Id,Label`, ids from 0, one class index per row."""
    rows = ["Id,Label"] + [f"{i},{int(p)}" for i, p in enumerate(labels)]
    path.write_bytes((end.join(rows) + end).encode("utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (the files depend on it; 1 made the committed ones)")
    parser.add_argument("--notebooks-only", action="store_true",
                        help="rewrite the notebooks only, with the committed checkpoints' figures")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    assignment = load("ece661-hw4-prune")
    data = load_dataset(assignment.dataset, None, cache_dir=default_cache_dir() / "data")
    mean, std = assignment.weights.mean, assignment.weights.std
    assert (mean, std) == (LAB_MEAN, LAB_STD), "the spec's [weights] mean and std"
    held_out = np.asarray(data.test_labels)
    ResNetCIFAR = lab_model()

    def scored(net: nn.Module) -> tuple[np.ndarray, float]:
        labels = predict(net, data.test_images, mean=mean, std=std).numpy()
        return labels, float((labels == held_out).mean())

    if args.notebooks_only:
        write_notebooks({name: scored(checkpoint(ResNetCIFAR, path))[1]
                         for name, path in CHECKPOINTS.items()})
        return
    torch.manual_seed(0)
    dense = ResNetCIFAR(num_layers=20, Nbits=None)
    train(dense, data.train_images, data.train_labels, DENSE)
    dense_labels, dense_acc = scored(dense)
    print(f"pretrained_model.pt: {dense_acc:.1%} held-out")

    kira = iterative_prune(dense, data, seed=1)
    leo = iterative_prune(dense, data, seed=2, apply=False)
    mona = iterative_prune(dense, data, seed=3)
    figures = {"dense": dense_acc}
    for name, net in (("kira", kira), ("leo", leo), ("mona", mona)):
        labels, acc = scored(net)
        figures[name] = acc
        print(f"{name}: {acc:.1%} held-out, {sparsity(net):.1%} zero, "
              f"{(labels == dense_labels).mean():.1%} same labels as the pretrained model")
        if name != "mona":
            write_predictions(HERE / name / "predictions.csv", labels)
    write_predictions(HERE / "mona" / "predictions.csv", dense_labels, "\r\n")   # Windows

    torch.save(kira.state_dict(), HERE / "kira" / "net_after_global_iterative_prune.pt")
    torch.save({"epoch": 3, "model_state_dict": leo.state_dict(), "acc": figures["leo"]},
               HERE / "leo" / "resnet20_global_prune_0.7.pth")
    torch.save(mona.state_dict(), HERE / "mona" / "net_after_global_iterative_prune.pt")
    torch.save(dense.state_dict(), HERE / "mona" / "pretrained_model.pt")   # the course's

    write_notebooks(figures)
    print(f"written to {HERE.relative_to(ROOT)}/ with {args.threads} thread(s)")


# the checkpoints written, by the figure their accuracy is shown as in the notebooks
CHECKPOINTS = {"dense": "mona/pretrained_model.pt",
               "kira": "kira/net_after_global_iterative_prune.pt",
               "mona": "mona/net_after_global_iterative_prune.pt"}


def checkpoint(model: type[nn.Module], path: str) -> nn.Module:
    net = model(num_layers=20, Nbits=None)
    net.load_state_dict(torch.load(HERE / path, weights_only=True))
    return net


def write_notebooks(figures: dict) -> None:
    """kira's and mona's notebooks, their test cells' outputs carrying `figures`."""
    for path, cells in (("kira/hw4.ipynb", kira_notebook(figures)),
                        ("mona/HW4_pruning.ipynb", mona_notebook(figures))):
        write(str((HERE / path).relative_to(ROOT)), cells, COLAB)


# --- the students' notebooks (outputs carry this run's figures) ---------------------------

PRUNE_BY_PERCENTAGE = """
    def prune_by_percentage(layer, q=70.0):
        \"\"\"
        Pruning the weight paramters by threshold.
        :param q: pruning percentile. 'q' percent of the least
        significant weight parameters will be pruned.
        \"\"\"
        # Convert the weight of "layer" to numpy array
        np_weight = layer.weight.data.cpu().numpy()
        # Compute the q-th percentile of the abs of the converted array
        thres = np.percentile(np.abs(np_weight), q)
        # Generate a binary mask same shape as weight to decide which element to prune
        mask = np.abs(np_weight) > thres
        # Convert mask to torch tensor and put on GPU
        mask = torch.from_numpy(mask.astype(np.float32)).to(device)
        # Multiply the weight by mask to perform pruning
        layer.weight.data = layer.weight.data * mask
"""

GLOBAL_PRUNE = """
    def global_prune_by_percentage(net, q=70.0):
        # Concatenate all the weights of conv and linear layers
        flat = []
        for name, layer in net.named_modules():
            if isinstance(layer, nn.Conv2d) or isinstance(layer, nn.Linear):
                flat.append(layer.weight.data.abs().flatten().cpu().numpy())
        thres = np.percentile(np.concatenate(flat), q)
        for name, layer in net.named_modules():
            if isinstance(layer, nn.Conv2d) or isinstance(layer, nn.Linear):
                mask = (layer.weight.data.abs() > thres).float()
                layer.weight.data = layer.weight.data * mask
"""

CHECK_SPARSITY = """
    zeros_sum, total_sum = 0, 0
    for name, layer in net.named_modules():
        if isinstance(layer, nn.Conv2d) or isinstance(layer, nn.Linear):
            np_weight = layer.weight.data.cpu().numpy()
            zeros = np.sum(np_weight == 0)
            total = np_weight.size
            zeros_sum += zeros
            total_sum += total
            print('Sparsity of ' + name + ': ' + str(zeros / total))
    print('Total sparsity of: ' + str(zeros_sum / total_sum))
"""

SAVE_PREDICTIONS = """
    # save_test_predictions: the held-out images from the course page
    test_images = np.load("test_images.npz")["images"]
    net.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(test_images), 500):
            x = torch.tensor(test_images[i:i + 500]).permute(0, 3, 1, 2).float() / 255
            x = transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))(x)
            preds.append(net(x.to(device)).argmax(1).cpu())
    preds = torch.cat(preds).numpy()
    with open("predictions.csv", "w") as f:
        f.write("Id,Label\\n")
        for i, p in enumerate(preds):
            f.write(f"{i},{p}\\n")
"""


def colab_head(title: str) -> list:
    return [
        md(f"# {title}\n\nECE 661 Homework 4: Sparsity. Lab 2: pruning."),
        code("""
            from google.colab import drive
            drive.mount('/content/drive')
            %cd /content/drive/MyDrive/ECE661/HW4
        """, 1, "Mounted at /content/drive\n/content/drive/MyDrive/ECE661/HW4\n"),
        code("!pip install torchsummary\n!ls", 2,
             "Requirement already satisfied: torchsummary in /usr/local/lib/python3.10\n"
             "FP_layers.py  pretrained_model.pt  resnet20.py  train_util.py\n"),
    ]


def kira_notebook(f: dict) -> list:
    return colab_head("HW4 Lab 2: Pruning (kira)") + [
        code("""
            import numpy as np
            import torch
            import torch.nn as nn
            import torchvision.transforms as transforms
            from resnet20 import ResNetCIFAR
            from train_util import train, finetune_after_prune, test
            from summary import summary

            device = 'cuda' if torch.cuda.is_available() else 'cpu'
        """, 3),
        md("## Step 0: the pretrained model"),
        code("""
            net = ResNetCIFAR(num_layers=20, Nbits=None)
            net = net.to(device)
            net.load_state_dict(torch.load("pretrained_model.pt"))
            test(net)
        """, 4, f"Test Loss=0.6121, Test acc={f['dense']:.4f}\n"),
        md("## Lab 2 (a): prune each layer by percentage"),
        code(PRUNE_BY_PERCENTAGE, 5),
        code("""
            for q in [30.0, 50.0, 70.0]:
                net.load_state_dict(torch.load("pretrained_model.pt"))
                for name, layer in net.named_modules():
                    if (isinstance(layer, nn.Conv2d) or isinstance(layer, nn.Linear)) and 'id_mapping' not in name:
                        prune_by_percentage(layer, q=q)
                print("q =", q)
                test(net)
        """, 6),
        md("## Lab 2 (b): fine-tune with the pruned weights fixed at zero (train_util.py)"),
        code("""
            net.load_state_dict(torch.load("pretrained_model.pt"))
            for name, layer in net.named_modules():
                if (isinstance(layer, nn.Conv2d) or isinstance(layer, nn.Linear)) and 'id_mapping' not in name:
                    prune_by_percentage(layer, q=70.0)
            finetune_after_prune(net, epochs=50, batch_size=128, lr=0.001, reg=5e-4)
        """, 7),
        md("## Lab 2 (c): iterative global pruning to 70%"),
        code(GLOBAL_PRUNE, 8),
        code("""
            net.load_state_dict(torch.load("pretrained_model.pt"))
            for q in [30.0, 50.0, 70.0]:
                global_prune_by_percentage(net, q=q)
                finetune_after_prune(net, epochs=20, batch_size=128, lr=0.001, reg=5e-4,
                                     checkpoint_path="net_after_global_iterative_prune.pt")
            net.load_state_dict(torch.load("net_after_global_iterative_prune.pt"))
            test(net)
        """, 9, f"Test Loss=0.6840, Test acc={f['kira']:.4f}\n"),
        code(CHECK_SPARSITY, 10, "Total sparsity of: 0.7000007382\n"),
        md("Save the held-out predictions from the pruned model."),
        code(SAVE_PREDICTIONS, 11),
    ]


MONA_HELPERS = """
    def global_prune(model, percent):
        \"\"\"Zero the `percent` % smallest weights over all conv and linear layers at once.\"\"\"
        prunable = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        everything = torch.cat([m.weight.detach().abs().view(-1) for m in prunable])
        cut = np.percentile(everything.cpu().numpy(), percent)
        with torch.no_grad():
            for m in prunable:
                m.weight.mul_((m.weight.abs() > cut).float())
        return cut

    def report_sparsity(model):
        zeros, count = 0, 0
        for n, m in model.named_modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                z = (m.weight == 0).sum().item()
                zeros, count = zeros + z, count + m.weight.numel()
                print(f"{n:32s} {z / m.weight.numel():.3f}")
        print(f"overall sparsity {zeros / count:.4f}")
"""

MONA_PREDICTIONS = """
    import pandas as pd
    imgs = np.load("test_images.npz")["images"]
    norm = transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))
    net.eval()
    with torch.no_grad():
        logits = torch.cat([net(norm(torch.from_numpy(b).permute(0, 3, 1, 2).float() / 255)
                                .to(device)).cpu() for b in np.array_split(imgs, 20)])
    pd.DataFrame({"Id": range(len(imgs)), "Label": logits.argmax(1).numpy()}).to_csv(
        "predictions.csv", index=False)
"""


def mona_notebook(f: dict) -> list:
    return colab_head("ECE661 HW4 - pruning") + [
        code("""
            import numpy as np
            import torch
            import torch.nn as nn
            import torch.nn.functional as F
            import torchvision.transforms as transforms
            import math
            from train_util import train, finetune_after_prune, test

            device = 'cuda' if torch.cuda.is_available() else 'cpu'
        """, 3),
        md("The model files (FP_layers.py and resnet20.py), pasted here so the notebook runs "
           "on its own."),
        code((HERE / "kira" / "FP_layers.py").read_text().split('device = "cuda"')[1]
             .split("\n", 1)[1].strip() + "\n\n"
             + (HERE / "kira" / "resnet20.py").read_text().split("from FP_layers import *")[1]
             .strip(), 4),
        md("## Step 0: pretrained model, and the predictions file"),
        code("""
            net = ResNetCIFAR(num_layers=20, Nbits=None)
            net = net.to(device)
            net.load_state_dict(torch.load("pretrained_model.pt"))
            test(net)
        """, 5, f"Test Loss=0.6121, Test acc={f['dense']:.4f}\n"),
        code(MONA_PREDICTIONS, 6),
        md("## Lab 2: iterative global pruning, 30% -> 50% -> 70%"),
        code(MONA_HELPERS, 7),
        code("""
            for percent in (30, 50, 70):
                cut = global_prune(net, percent)
                print(f"pruned to {percent}% (|w| <= {cut:.4f})")
                finetune_after_prune(net, epochs=20, batch_size=128, lr=0.001, reg=5e-4,
                                     checkpoint_path="net_after_global_iterative_prune.pt")
            net.load_state_dict(torch.load("net_after_global_iterative_prune.pt"))
            test(net)
        """, 8, f"Test Loss=0.6911, Test acc={f['mona']:.4f}\n"),
        code("report_sparsity(net)", 9, "overall sparsity 0.7000\n"),
    ]


if __name__ == "__main__":
    main()
