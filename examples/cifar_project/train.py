"""Train SmallCNN on CIFAR-10-shaped data."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader

from .models import SmallCNN


def train_one_epoch(model, loader, optimizer, criterion, device):
    model.train()
    total = 0.0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        outputs = model(images)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / len(loader)


def validate(model, val_loader, device):
    correct = 0
    for images, labels in val_loader:
        images, labels = images.to(device), labels.to(device)
        logits = model(images)
        probs = F.softmax(logits, dim=1)
        loss = F.cross_entropy(probs, labels)
        correct += (probs.argmax(1) == labels).sum().item()
    return correct / len(val_loader.dataset), loss.item()


def main(train_set, val_set, epochs: int = 10):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = SmallCNN().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    train_loader = DataLoader(train_set, batch_size=128, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=256)
    for epoch in range(epochs):
        train_loss = train_one_epoch(model, train_loader, optimizer, criterion, device)
        acc, val_loss = validate(model, val_loader, device)
        print(f"epoch {epoch}: train {train_loss:.3f} val {val_loss:.3f} acc {acc:.3f}")


def finetune(model, loader, val_loader, optimizer, epochs: int = 3):
    criterion = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        for images, labels in loader:
            optimizer.zero_grad()
            loss = criterion(model(images), labels)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            for images, labels in val_loader:
                model(images)


def quick_check(images, labels):
    model = SmallCNN()
    outputs = model(images)
    return F.cross_entropy(outputs, labels)
