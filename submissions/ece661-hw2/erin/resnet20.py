"""
ECE 661 HW2 -- Erin Foster
Lab 3: ResNet-20, identity shortcuts with zero padding (option A), logged to Weights & Biases.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
import wandb


class Block(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride = stride
        self.extra = cout - cin

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        sc = x
        if self.stride > 1:
            sc = sc[:, :, ::self.stride, ::self.stride]
        if self.extra > 0:
            sc = F.pad(sc, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return F.relu(out + sc)


class ResNet20(nn.Module):
    def __init__(self, num_classes=10, log_every=0):
        super().__init__()
        self.log_every = log_every
        self.steps = 0
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        blocks = []
        cin = 16
        for cout, stride in [(16, 1), (32, 2), (64, 2)]:
            for i in range(3):
                blocks.append(Block(cin, cout, stride if i == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        feats = self.blocks(self.stem(x))
        if self.training and self.log_every and self.steps % self.log_every == 0:
            wandb.log({"feature_norm": feats.norm(dim=1).mean().item()}, step=self.steps)
        self.steps += 1
        return self.fc(F.adaptive_avg_pool2d(feats, 1).flatten(1))


if __name__ == "__main__":
    wandb.init(project="ece661-hw2", config={"lr": 0.1, "epochs": 200, "batch_size": 128})
    model = ResNet20(log_every=50)
    print(sum(p.numel() for p in model.parameters()))
    print(model(torch.zeros(4, 3, 32, 32)).shape)
