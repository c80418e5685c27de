"""Purdue ECE 60146 Homework 5 (2023): single-object localization on COCO bus, cat and pizza.

The handout gives the skeleton `HW5Net(input_nc, output_nc, ngf=8, n_blocks=4)`: a
ReflectionPad2d(3) + 7x7 convolution stem with BatchNorm and ReLU, four stride-2 3x3
convolutions that halve the image and double the channels (8 -> 128; 256x256 -> 16x16),
`n_blocks` ResNet blocks, and two empty heads the student fills in; `forward` returns
`(cls, bbox)`: class logits [B, output_nc] and a box [B, 4] as x1, y1, x2, y2 scaled to 0..1.
The net must have at least 50 learnable layers, counted as `len(list(net.parameters()))`.

Completed here the way a good student would: the ResNet block is CycleGAN's (reflect padding,
conv-BN-ReLU-conv-BN, identity added); the class head pools and classifies; the box head is a
small convolution with ReLU, pooled, then Linear -> 4 and a Sigmoid, so the box lies in 0..1.
Adaptive pooling makes it work on any square of at least 32 pixels (the ResNet blocks' reflect
padding needs 2x2 maps after the four halvings; the tests use 64x64). With the defaults it has
58 parameter tensors and 1,305,495 parameters (pinned in tests/test_reference.py). Real
hand-ins, with Linear(128 * 16 * 16, 2048)-style heads, have 6.8M to 77.6M parameters.
"""

from __future__ import annotations

import torch
from torch import nn


class ResnetBlock(nn.Module):
    """Two reflect-padded 3x3 convolutions with BatchNorm, ReLU between, the input added."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3), nn.BatchNorm2d(dim),
            nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3), nn.BatchNorm2d(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class HW5Net(nn.Module):
    """ResNet-based encoder (a few downsamplings and ResNet blocks) with a class head and a
    bounding-box head."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 8,
                 n_blocks: int = 4) -> None:
        assert n_blocks >= 0
        super().__init__()
        model = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0),
                 nn.BatchNorm2d(ngf), nn.ReLU(True)]
        n_downsampling = 4
        for i in range(n_downsampling):
            mult = 2 ** i
            model += [nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1),
                      nn.BatchNorm2d(ngf * mult * 2), nn.ReLU(True)]
        mult = 2 ** n_downsampling
        for _ in range(n_blocks):
            model += [ResnetBlock(ngf * mult)]
        self.model = nn.Sequential(*model)
        width = ngf * mult                              # 128 channels with the default ngf
        self.class_head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, output_nc))
        # the box head keeps where things are: an 8x8 map flattened (global average pooling,
        # as the class head uses, would throw the object's position away)
        self.bbox_head = nn.Sequential(
            nn.Conv2d(width, 16, kernel_size=3, padding=1), nn.ReLU(True),
            nn.AdaptiveAvgPool2d(8), nn.Flatten(), nn.Linear(16 * 8 * 8, 4),
            nn.Sigmoid())                               # x1, y1, x2, y2 in 0..1

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ft = self.model(x)
        cls = self.class_head(ft)
        bbox = self.bbox_head(ft)
        return cls, bbox


def hw5_net(num_classes: int = 3, vocab_size: int | None = None,
            embedding_dim: int | None = None, **kwargs) -> HW5Net:
    """The registry's "hw5-net": HW5Net(3, num_classes); ngf, n_blocks and input_nc may be
    given, other keywords (a sequence task's vocab_size, embedding_dim) are ignored."""
    known = {k: kwargs[k] for k in ("input_nc", "ngf", "n_blocks") if k in kwargs}
    return HW5Net(output_nc=num_classes, **known)
