# ECE 60146 HW5 - Grace Huang
# usage: python hw5.py --model {1,2,3}
import argparse

import matplotlib.pyplot as plt
import seaborn as sns
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.metrics import confusion_matrix

from DLStudio import *


class CustomExperimentsWithCIFAR(DLStudio.ExperimentsWithCIFAR):
    # pass dl_studio class to constructor
    def __init__(self, dl_studio):
        super().__init__(dl_studio)

        # create a new Network class
        class Net3(nn.Module):
            def __init__(self):
                super().__init__()
                # conv layers
                self.conv_block1 = nn.Sequential(nn.Conv2d(3, 32, kernel_size=3, padding=1), nn.ReLU(), nn.BatchNorm2d(32))
                self.conv_block2 = nn.Sequential(nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.ReLU(), nn.BatchNorm2d(64))
                self.conv_block3 = nn.Sequential(nn.Conv2d(64, 128, kernel_size=3, padding=1), nn.ReLU(), nn.BatchNorm2d(128),
                                                 nn.MaxPool2d(kernel_size=2, stride=2))
                self.conv_block4 = nn.Sequential(nn.Conv2d(128, 128, kernel_size=3, padding=1), nn.ReLU(), nn.BatchNorm2d(128))
                self.conv_block5 = nn.Sequential(nn.Conv2d(128, 256, kernel_size=3, padding=1), nn.ReLU(), nn.BatchNorm2d(256))
                self.conv_block6 = nn.Sequential(nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(), nn.BatchNorm2d(256),
                                                 nn.MaxPool2d(kernel_size=2, stride=2))
                self.conv_block7 = nn.Sequential(nn.Conv2d(256, 512, kernel_size=3, padding=1), nn.ReLU(), nn.BatchNorm2d(512))
                self.conv_block8 = nn.Sequential(nn.Conv2d(512, 512, kernel_size=3, padding=1), nn.ReLU(), nn.BatchNorm2d(512))
                # fully connected
                self.fc1 = nn.Linear(512 * 8 * 8, 512)
                self.fc2 = nn.Linear(512, 10)

            def forward(self, x):
                x = self.conv_block2(self.conv_block1(x))
                x = self.conv_block4(self.conv_block3(x))
                x = self.conv_block6(self.conv_block5(x))
                x = self.conv_block8(self.conv_block7(x))
                x = x.view(x.size(0), -1)
                x = F.relu(self.fc1(x))
                return self.fc2(x)

        self.Net3 = Net3


if __name__ == "__main__":
    # take in a parameter for which model to train and test
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=int, required=True)
    args = parser.parse_args()

    dls = DLStudio(
        # dataroot = "/home/kak/ImageDatasets/CIFAR-10/",
        dataroot="./data/CIFAR-10/",
        image_size=[32, 32],
        path_saved_model="./saved_model",
        momentum=0.9,
        learning_rate=1e-3,
        epochs=5,
        batch_size=5,
        classes=('plane', 'car', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'),
        use_gpu=True,
    )
    custom_cifar = CustomExperimentsWithCIFAR(dl_studio=dls)
    custom_cifar.load_cifar_10_dataset()

    if args.model == 1:
        model = custom_cifar.Net()
    elif args.model == 2:
        model = custom_cifar.Net2()
    else:
        model = custom_cifar.Net3()
    custom_cifar.run_code_for_training(model, display_images=False)
    # run_code_for_testing modified to return labels and predictions
    labels, predicted = custom_cifar.run_code_for_testing(model, display_images=False)

    class_names = ['plane', 'car', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']
    cm = confusion_matrix(labels, predicted)
    plt.figure(figsize=(10, 7))
    sns.heatmap(cm, annot=True, fmt='d', cmap='Blues', xticklabels=class_names, yticklabels=class_names)
    plt.xlabel('Predicted Label')
    plt.ylabel('True Label')
    plt.title(f'Confusion Matrix for Model {args.model}')
    plt.savefig(f'confusion_matrix_{args.model}')
