"""Reference models (one architecture per file) and the canonical training routine.

MODELS maps a registry id to "module:factory"; `build(id, **kwargs)` imports lazily so that
reading the registry (the spec loader does) does not import torch.
"""

from __future__ import annotations

import importlib

MODELS: dict[str, str] = {
    "simplenn": "reference.simplenn:simplenn",
    "simplenn-bn": "reference.simplenn:simplenn_bn",
    "resnet20-a": "reference.resnet_cifar:resnet20_a",
    "resnet20-b": "reference.resnet_cifar:resnet20_b",
    "resnet32-a": "reference.resnet_cifar:resnet32_a",
    "resnet56-a": "reference.resnet_cifar:resnet56_a",
    "dlstudio-net": "reference.dlstudio:net",
    "dlstudio-net2": "reference.dlstudio:net2",
    "resnet18": "reference.resnet18:resnet18",
    "hw4-net1": "reference.hw4:hw4_net1",
    "hw4-net2": "reference.hw4:hw4_net2",
    "hw5-net": "reference.hw5:hw5_net",
    "hw8-gru": "reference.rnn:hw8_gru",
    "hw3-lstm": "reference.rnn:hw3_lstm",
    "hw3-gru": "reference.rnn:hw3_gru",
}


def build(model_id: str, **kwargs):
    """Instantiate a reference model by registry id (kwargs go to the factory)."""
    module_name, factory = MODELS[model_id].split(":")
    return getattr(importlib.import_module(module_name), factory)(**kwargs)
