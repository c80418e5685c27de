"""ECE 661 HW2, Lab 3: ResNet-20 for CIFAR-10 (He et al. 2016, Sec. 4.2).

Option A shortcuts: identity, and where the feature map is halved the shortcut subsamples
by 2 and zero-pads the new channels, so shortcuts add no parameters (paper: 0.27M).
"""
import torch.nn as nn
import torch.nn.functional as F
import torch.nn.init as init


def _weights_init(m):
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        init.kaiming_normal_(m.weight)


class LambdaLayer(nn.Module):
    def __init__(self, lambd):
        super(LambdaLayer, self).__init__()
        self.lambd = lambd

    def forward(self, x):
        return self.lambd(x)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super(BasicBlock, self).__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)

        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            pad = planes // 4
            # option A: x[:, :, ::2, ::2] halves H and W, then pad channels 16->32 / 32->64
            self.shortcut = LambdaLayer(
                lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, pad, pad), "constant", 0)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + self.shortcut(x)
        return F.relu(out)


class ResNet(nn.Module):
    def __init__(self, block, num_blocks, num_classes=10):
        super(ResNet, self).__init__()
        self.in_planes = 16

        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._make_layer(block, 16, num_blocks[0], stride=1)   # 32x32
        self.layer2 = self._make_layer(block, 32, num_blocks[1], stride=2)   # 16x16
        self.layer3 = self._make_layer(block, 64, num_blocks[2], stride=2)   # 8x8
        self.linear = nn.Linear(64, num_classes)

        self.apply(_weights_init)

    def _make_layer(self, block, planes, num_blocks, stride):
        strides = [stride] + [1] * (num_blocks - 1)
        layers = []
        for s in strides:
            layers.append(block(self.in_planes, planes, s))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        out = F.avg_pool2d(out, out.size()[3])   # global average pooling
        out = out.view(out.size(0), -1)
        return self.linear(out)


class ResNet20(ResNet):
    """6n+2 layers with n = 3: 19 3x3 convs + 1 fc."""

    def __init__(self, num_classes=10):
        super(ResNet20, self).__init__(BasicBlock, [3, 3, 3], num_classes)


def resnet32():
    # tried for the bonus, not submitted
    return ResNet(BasicBlock, [5, 5, 5])
