# ECE661 HW2 Lab 3 - ResNet-20
# Carol Diaz
import torch
import torch.nn as nn
import torch.nn.functional as F


class ResBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        # projection shortcut (option B) so the dimensions always match
        self.shortcut = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out)


class MyResNet(nn.Module):
    # 3 stages x 3 blocks x 2 convs + first conv + fc = 20 layers
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.stage1 = nn.Sequential(ResBlock(16, 16), ResBlock(16, 16), ResBlock(16, 16))
        self.stage2 = nn.Sequential(ResBlock(16, 32, 2), ResBlock(32, 32), ResBlock(32, 32))
        self.stage3 = nn.Sequential(ResBlock(32, 64, 2), ResBlock(64, 64), ResBlock(64, 64))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.stage3(self.stage2(self.stage1(x)))
        x = self.pool(x).flatten(1)
        return self.fc(x)


if __name__ == "__main__":
    net = MyResNet()
    print(net)
    print("params: %.2fM" % (sum(p.numel() for p in net.parameters()) / 1e6))  # 0.28M, ok
    print(net(torch.randn(2, 3, 32, 32)).shape)
