"""A small CNN for 32x32 images."""

import torch.nn as nn
import torch.nn.functional as F


class SmallCNN(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(64)
        self.fc1 = nn.Linear(64 * 8 * 8, 256)
        self.fc2 = nn.Linear(256, num_classes)

    def features(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return x.flatten(1)

    def forward(self, x):
        x = F.relu(self.fc1(self.features(x)))
        x = F.dropout(x, p=0.5)
        return F.softmax(self.fc2(x), dim=1)


class Classifier(nn.Module):
    """A linear probe that returns logits: correct."""

    def __init__(self, dim: int, num_classes: int):
        super().__init__()
        self.head = nn.Linear(dim, num_classes)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        return self.head(self.drop(x))
