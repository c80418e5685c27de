"""Static discovery: which class serves each model and the module cut out for it."""

from __future__ import annotations

from grader import candidates, discovery
from grader.sources import read_sources
from grader.spec import Assignment, DatasetSpec, LimitsSpec, ModelSpec, TrainingSpec


def _assignment(*models: ModelSpec) -> Assignment:
    return Assignment(id="t", course="c", title="t", path="t.toml", required_files=(),
                      models=models, dataset=DatasetSpec(), training=TrainingSpec(),
                      limits=LimitsSpec(), predictions=None, rubric=())


def _options(root, names, key="m", **spec):
    files, _ = read_sources(root)
    nss = discovery.namespaces(files)
    model = ModelSpec(key=key, title=key, names=tuple(names), **spec)
    return candidates.options(nss, model, _assignment(model))


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
    quals = {d.qualname: d for _, d in discovery.module_candidates(nss)}
    assert "Outer.Inner" in quals
    assert quals["Custom.__init__.Net3"].in_function == "Custom.__init__"
    # seed 001: Net3 defined inside __init__ still loads when its body stands alone
    src = _find(root, ["Net3"], key="net3")
    assert src.qualname == "Custom.__init__.Net3"
    assert isinstance(_run(src.code)["Net3"](), object)
