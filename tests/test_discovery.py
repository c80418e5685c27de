"""Static discovery: which class serves each model and the module cut out for it."""

from __future__ import annotations

import textwrap

import pytest

from grader.inputs import candidates
from grader.inputs import discovery
from grader.inputs.sources import read_sources
from grader.spec import Assignment, DatasetSpec, LimitsSpec, ModelSpec, TrainingSpec


def _assignment(*models: ModelSpec) -> Assignment:
    return Assignment(id="t", course="c", title="t", path="t.toml", required_files=(),
                      models=models, dataset=DatasetSpec(), training=TrainingSpec(),
                      limits=LimitsSpec(), predictions=None, rubric=())


def _options(root, names, key="m", **spec):
    files, _ = read_sources(root)
    nss = discovery.namespaces(files)
    model = ModelSpec(key=key, title=key, names=tuple(names), **spec)
    return candidates.find(nss, model, _assignment(model))


def _find(root, names, key="m"):
    """The best statically ranked candidate (what gets probed first)."""
    opts, _ = _options(root, names, key)
    return opts[0].source if opts else None


def _run(code):
    namespace = {}
    exec(compile(code, "generated", "exec"), namespace)
    return namespace


def test_unrelated_failing_imports_and_training_code_are_left_out(make_submission):
    root = make_submission({"hw.py": """
        import torch.nn as nn
        import wandb
        from google.colab import drive
        drive.mount('/content/drive')
        WIDTH = 4

        class Net(nn.Module):
            def __init__(self, width=WIDTH):
                super().__init__()
                self.fc = nn.Linear(width, 2)

        model = Net()
        for epoch in range(1000):
            train(model)
    """})
    src = _find(root, ["Net"])
    assert "wandb" not in src.code and "drive" not in src.code and "for epoch" not in src.code
    assert "WIDTH = 4" in src.code
    net = _run(src.code)["Net"]()
    assert net.fc.in_features == 4


def test_nested_dlstudio_class_with_outer_reference(make_submission, make_notebook):
    root = make_submission({})
    make_notebook(root / "hw5.ipynb", [
        "from DLStudio import *",
        "import torch.nn as nn",
        """
        class CustomExperimentsWithCIFAR(DLStudio.ExperimentsWithCIFAR):
            class Net3(nn.Module):
                def __init__(self):
                    super(CustomExperimentsWithCIFAR.Net3, self).__init__()
                    self.fc = nn.Linear(3, 10)
                def forward(self, x):
                    return self.fc(x.mean((2, 3)))
        """,
        "exp = CustomExperimentsWithCIFAR(dl_studio=dls)\nexp.run_code_for_training(exp.Net3())",
    ])
    src = _find(root, ["Net3"])
    assert src.qualname == "CustomExperimentsWithCIFAR.Net3" and src.where == "hw5.ipynb cell 3"
    assert "DLStudio" not in src.code.replace("# ", "").split("class Net3")[1].split("\n")[0]
    assert "from DLStudio import *" not in src.code
    net = _run(src.code)["Net3"]()
    assert net.fc.out_features == 10


def test_names_followed_across_cells_and_local_modules(make_submission, make_notebook):
    root = make_submission({"blocks.py": """
        import torch.nn as nn
        import matplotlib.pyplot as plt
        plt.plot([1, 2])

        class Block(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.conv = nn.Conv2d(c, c, 3, padding=1)
    """})
    make_notebook(root / "hw.ipynb", [
        "import torch.nn as nn\nfrom blocks import Block as B",
        "def make_layers(n):\n    return nn.Sequential(*[B(4) for _ in range(n)])",
        "class ResNet20(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.body = make_layers(DEPTH)",
        "DEPTH = 3",
    ])
    src = _find(root, ["ResNet20"])
    assert "plt.plot" not in src.code and "matplotlib" not in src.code
    net = _run(src.code)["ResNet20"]()
    assert len(net.body) == 3


def test_factory_function_is_found(make_submission):
    root = make_submission({"resnet.py": """
        import torch.nn as nn
        class ResNet(nn.Module):
            def __init__(self, blocks):
                super().__init__()
                self.blocks = blocks
        def resnet20():
            return ResNet([3, 3, 3])
    """})
    src = _find(root, ["ResNet20", "resnet20"])
    assert src.kind == "function" and src.object_name == "resnet20"
    assert _run(src.code)["resnet20"]().blocks == [3, 3, 3]


def test_closest_module_class_is_substituted_but_not_blocks(make_submission):
    root = make_submission({"m.py": """
        import torch.nn as nn
        class BasicBlock(nn.Module):
            pass
        class MyResNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.b = BasicBlock()
        class Net3(nn.Module):
            pass
    """})
    src = _find(root, ["ResNet20"], key="resnet20")
    assert src.substituted and src.object_name == "MyResNet"
    opts, excluded = _options(root, ["SimpleNN"], key="simplenn")
    # Net3 is not a SimpleNN by name: it is only a candidate that must fit the spec to be used
    assert [(o.source.qualname, o.name_tier) for o in opts] == [("MyResNet", 0), ("Net3", 0)]
    assert any(e.name == "BasicBlock" and "building block" in e.reason for e in excluded)


def test_candidates_include_nested_and_function_local_classes(make_submission):
    root = make_submission({"m.py": """
        import torch.nn as nn
        class Custom:
            def __init__(self):
                class Net3(nn.Module):
                    pass
                self.net3 = Net3
        class Outer:
            class Inner(nn.Module):
                pass
    """})
    files, _ = read_sources(root)
    nss = discovery.namespaces(files)
    quals = {d.qualname: d for _, d in discovery.module_classes(nss)}
    assert "Outer.Inner" in quals
    assert quals["Custom.__init__.Net3"].in_function == "Custom.__init__"
    # seed 001: Net3 defined inside __init__ still loads when its body stands alone
    src = _find(root, ["Net3"], key="net3")
    assert src.qualname == "Custom.__init__.Net3"
    import torch

    built = _run(src.code)["Net3"]()
    assert isinstance(built, torch.nn.Module) and type(built).__name__ == "Net3"


def test_names_used_in_annotations_decorators_defaults_and_keywords_stay_bound(make_submission):
    root = make_submission({"m.py": """
        import functools
        import torch
        import torch.nn as nn
        from typing import Optional
        from abc import ABCMeta
        WIDTH = 4

        def traced(fn):
            return fn

        class Meta(ABCMeta):
            pass

        class Net(nn.Module, metaclass=Meta):
            scale: Optional[float] = None

            def __init__(self, width: int = WIDTH) -> None:
                super().__init__()
                self.fc = nn.Linear(width, 2)

            @traced
            @functools.wraps(nn.Module.forward)
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.fc(x)
    """})
    src = _find(root, ["Net"])
    for needed in ("import torch\n", "from typing import Optional", "def traced",
                   "import functools", "class Meta", "WIDTH = 4"):
        assert needed in src.code, needed
    import torch

    net = _run(src.code)["Net"]()
    assert net(torch.zeros(1, 4)).shape == (1, 2)


def _constructions(root, name):
    from grader.inputs import construct

    files, _ = read_sources(root)
    nss = discovery.namespaces(files)
    d = next(d for ns in nss for d in ns.classes if d.node.name == name)
    return construct.required_args(nss, d), construct.constructions(nss, d)


BLOCKS = """
    import torch.nn as nn
    class BasicBlock(nn.Module):
        def __init__(self, a, b, stride=1):
            super().__init__()
    class ResNetCIFAR(nn.Module):
        def __init__(self, block, num_blocks, num_classes=10):
            super().__init__()
            self.blocks = [block(16, 16) for _ in range(sum(num_blocks))]
"""


def test_construction_in_a_later_cell_and_in_another_file(make_submission, make_notebook):
    root = make_submission({"models.py": BLOCKS, "train.py": """
        import torch
        from models import ResNetCIFAR, BasicBlock
        device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
        def main(args):
            model = ResNetCIFAR(BasicBlock, [3, 3, 3]).to(device)
            other = ResNetCIFAR(BasicBlock, args.blocks)      # not known statically
    """})
    required, made = _constructions(root, "ResNetCIFAR")
    assert required == ["block", "num_blocks"]
    assert [(c.text, c.where) for c in made] == [
        ("ResNetCIFAR(BasicBlock, [3, 3, 3])", "train.py, line 6")]
    files, _ = read_sources(root)
    nss = discovery.namespaces(files)
    ns, d = next((ns, d) for ns in nss for d in ns.classes if d.node.name == "ResNetCIFAR")
    src = discovery.model_source(nss, ns, d, False, construction=made[0])
    assert src.object_name == "__grader_build__" and src.built_from == "train.py, line 6"
    assert "device" not in src.code and "def main" not in src.code
    assert len(_run(src.code)["__grader_build__"]().blocks) == 9


@pytest.mark.parametrize("code, texts", [
    ("task = 1\nnet = HW4Net(task)", ["HW4Net(1)"]),
    ("for task in [1, 2, 3]:\n    net = HW4Net(task)", ["HW4Net(1)", "HW4Net(2)", "HW4Net(3)"]),
    ("for t in range(1, 3):\n    nets = [HW4Net(task=t)]", ["HW4Net(task=1)", "HW4Net(task=2)"]),
    ("def go():\n    t = 3\n    return HW4Net(t)", ["HW4Net(3)"]),
    ("def go(t):\n    return HW4Net(t)", []),
    ("net = HW4Net(int(input()))", ["HW4Net(int(input()))"]),
    ("net = HW4Net(unknown_name)", []),
])
def test_construction_arguments_resolved_statically(make_submission, code, texts):
    root = make_submission({"hw4.py": "import torch.nn as nn\nclass HW4Net(nn.Module):\n"
                                      "    def __init__(self, task):\n        super().__init__()\n"
                                      + code + "\n"})
    _, made = _constructions(root, "HW4Net")
    assert [c.text for c in made] == texts


def test_hostile_construction_is_only_text(make_submission, tmp_path):
    marker = tmp_path / "pwned"
    root = make_submission({"hw.py": f"""
        import os
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self, x):
                super().__init__()
        net = Net(os.system("touch {marker}"))
    """})
    _, made = _constructions(root, "Net")
    assert made[0].text == f"Net(os.system('touch {marker}'))"
    assert not marker.exists()           # evaluated only by the sandbox, never here


@pytest.mark.parametrize("file, owner", [
    ("simplenn-cifar10.ipynb", "simplenn"),
    ("simplenn-cifar10-dev.ipynb", "simplenn-bn"),
    ("simplenn-cifar10 -dev.ipynb", "simplenn-bn"),
    ("simplenn-cifar10-dev1.ipynb", "simplenn-bn"),
    ("SimpleNN_CIFAR10_Dev.py", "simplenn-bn"),
    ("simplenn-cifar10-enhanced.ipynb", "simplenn"),
    ("simplenn-cifar10 (1).ipynb", "simplenn"),
    ("resnet_cifar10.ipynb", "resnet20"),
    ("netid_resnet-cifar10.ipynb", "resnet20"),
    ("hw2.ipynb", None),
    ("simplenn.py", None),
])
def test_file_names_matched_tolerantly_most_specific_wins(file, owner):
    from grader.spec import load

    owners = candidates.file_owners(file, load("ece661-hw2"))
    assert list(owners) == ([owner] if owner else [])


@pytest.mark.parametrize("name, key, tier, reason", [
    ("SimpleNN_nobn", "simplenn-bn", None, "its name says it has no BatchNorm"),
    ("SimpleNN_without_BN", "simplenn-bn", None, "its name says it has no BatchNorm"),
    ("BatchNormNN", "simplenn-bn", 1, "not an accepted name, but it says BatchNorm"),
    ("SimpleNN_BN", "simplenn", None, "its name is accepted for SimpleNN with BatchNorm"),
    ("MySimpleNN_bn2", "simplenn", None, "its name says it has BatchNorm"),
    ("SimpleNN_nobn", "simplenn", 1, "not an accepted name, but close to one"),
    ("ResNet18", "resnet20", None, "the number in its name (18) is not the model's (20)"),
    ("ResNetCIFAR10", "resnet20", 1, "not an accepted name, but close to one"),
    ("SimpleNN", "resnet20", None, "its name is accepted for SimpleNN (Lab 1)"),
    ("LeNet", "simplenn", 0, "nothing in its name points at this model"),
])
def test_name_tokens_count(name, key, tier, reason):
    from grader.spec import load

    a = load("ece661-hw2")
    got, note = candidates.name_tier(name, a.model(key), a)
    assert got == tier and note.startswith(reason)


@pytest.mark.parametrize("name, key, tier", [
    ("HW4Net", "net1", 2), ("HW4Net3", "net1", None), ("Net1", "net3", None),
    ("HW4_Net2", "net2", 2), ("MyNet3", "net3", 0),   # 0: taken only if it fits
])
def test_name_numbers_for_hw4(name, key, tier):
    from grader.spec import load

    a = load("ece60146-hw4")
    assert candidates.name_tier(name, a.model(key), a)[0] == tier


def test_spec_args_win_over_the_students_construction(make_submission):
    code = textwrap.dedent(BLOCKS) + "model = ResNetCIFAR(BasicBlock, [3, 3, 3])\n"
    root = make_submission({"m.py": code})
    opts, _ = _options(root, ["ResNetCIFAR"], args={"num_classes": 200})
    assert [(o.source.call, o.source.built_from) for o in opts] == [
        ("ResNetCIFAR(num_classes=200)", "")]
    opts, _ = _options(root, ["ResNetCIFAR"])
    assert [(o.source.call, o.source.built_from) for o in opts] == [
        ("ResNetCIFAR(BasicBlock, [3, 3, 3])", f"m.py, line {code.count(chr(10))}")]
