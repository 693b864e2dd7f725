"""A realistic, generated PyTorch training script for the latency benchmark.

Blocks of the kind a research codebase has (model definitions, losses, train/eval loops,
schedulers, checkpointing, metrics), repeated with varied names until the file reaches the
requested length. A few blocks carry the pitfalls torchpit reports (softmax before
cross_entropy, functional dropout without ``training``, a missing ``eval()``).
"""

from __future__ import annotations

HEADER = '''"""Experiment {idx}: image classification and sequence tagging baselines."""

import math
import os
import random
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset


@dataclass
class Hparams:
    lr: float = 3e-4
    weight_decay: float = 0.01
    batch_size: int = 64
    epochs: int = 20
    warmup_steps: int = 500
    grad_clip: float = 1.0
    dropout: float = 0.1
    hidden: int = 256
    seed: int = 1234


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)

'''

BLOCKS = [
    # A convolutional model.
    '''
class ConvBlock{n}(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_ch),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + self.shortcut(x)
        return F.relu(out)


class ResNetLike{n}(nn.Module):
    def __init__(self, num_classes: int = 10, width: int = 64) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.layer1 = ConvBlock{n}(width, width)
        self.layer2 = ConvBlock{n}(width, width * 2, stride=2)
        self.layer3 = ConvBlock{n}(width * 2, width * 4, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(width * 4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer3(self.layer2(self.layer1(x)))
        x = torch.flatten(self.pool(x), 1)
        return self.head(x)
''',
    # A sequence model with a functional-dropout pitfall.
    '''
class Tagger{n}(nn.Module):
    def __init__(self, vocab: int, hidden: int, tags: int, p: float = 0.1) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden, padding_idx=0)
        self.lstm = nn.LSTM(hidden, hidden, batch_first=True, bidirectional=True)
        self.proj = nn.Linear(2 * hidden, tags)
        self.p = p

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.embed(tokens)
        h, _ = self.lstm(h)
        h = F.dropout(h, p=self.p)
        return self.proj(h)


def tagging_loss{n}(logits: torch.Tensor, tags: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), tags.reshape(-1), ignore_index=-100)
''',
    # A dataset.
    '''
class SyntheticImages{n}(Dataset):
    def __init__(self, size: int = 1024, num_classes: int = 10, seed: int = {n}) -> None:
        g = torch.Generator().manual_seed(seed)
        self.images = torch.randn(size, 3, 32, 32, generator=g)
        self.labels = torch.randint(0, num_classes, (size,), generator=g)

    def __len__(self) -> int:
        return self.labels.numel()

    def __getitem__(self, idx: int):
        image = self.images[idx]
        if random.random() < 0.5:
            image = torch.flip(image, dims=[2])
        return image, self.labels[idx]
''',
    # A training loop (correct).
    '''
def train_epoch{n}(model, loader, optimizer, scheduler, hp: Hparams, device: str = "cpu") -> float:
    model.train()
    running, seen = 0.0, 0
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    for step, (images, labels) in enumerate(loader):
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad(set_to_none=True)
        logits = model(images)
        loss = criterion(logits, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), hp.grad_clip)
        optimizer.step()
        scheduler.step()
        running += loss.item() * images.size(0)
        seen += images.size(0)
        if step % 100 == 0:
            print(f"step {{step}}: loss {{running / max(seen, 1):.4f}}")
    return running / max(seen, 1)
''',
    # An evaluation loop with the softmax-before-cross-entropy pitfall.
    '''
@torch.no_grad()
def evaluate{n}(model, loader, device: str = "cpu") -> tuple[float, float]:
    model.eval()
    correct, total, loss_sum = 0, 0, 0.0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        logits = model(images)
        probs = F.softmax(logits, dim=1)
        loss_sum += F.cross_entropy(probs, labels, reduction="sum").item()
        correct += (probs.argmax(dim=1) == labels).sum().item()
        total += labels.numel()
    return correct / max(total, 1), loss_sum / max(total, 1)
''',
    # Schedulers, checkpoints and metrics.
    '''
def cosine_with_warmup{n}(optimizer, warmup: int, total: int):
    def factor(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def save_checkpoint{n}(model, optimizer, epoch: int, path: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    torch.save({{"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}}, path)


def load_checkpoint{n}(model, optimizer, path: str) -> int:
    state = torch.load(path, map_location="cpu")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["epoch"])


class AverageMeter{n}:
    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0

    def update(self, value: float, n: int = 1) -> None:
        self.total += value * n
        self.count += n

    @property
    def average(self) -> float:
        return self.total / max(self.count, 1)
''',
    # The experiment driver.
    '''
def run_experiment{n}(hp: Hparams, out_dir: str = "runs/exp{n}") -> dict:
    seed_everything(hp.seed + {n})
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = ResNetLike{m}(num_classes=10).to(device)
    train_loader = DataLoader(SyntheticImages{m}(2048), batch_size=hp.batch_size, shuffle=True)
    val_loader = DataLoader(SyntheticImages{m}(512, seed=7), batch_size=256)
    optimizer = torch.optim.AdamW(model.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
    total_steps = hp.epochs * len(train_loader)
    scheduler = cosine_with_warmup{m}(optimizer, hp.warmup_steps, total_steps)
    history = []
    best = 0.0
    for epoch in range(hp.epochs):
        start = time.time()
        train_loss = train_epoch{m}(model, train_loader, optimizer, scheduler, hp, device)
        acc, val_loss = evaluate{m}(model, val_loader, device)
        history.append({{"epoch": epoch, "train": train_loss, "val": val_loss, "acc": acc}})
        if acc > best:
            best = acc
            save_checkpoint{m}(model, optimizer, epoch, os.path.join(out_dir, "best.pt"))
        print(f"epoch {{epoch}} ({{time.time() - start:.1f}}s): acc {{acc:.3f}}")
    return {{"best": best, "history": history}}
''',
]


def make_training_script(n_lines: int = 2000, idx: int = 0) -> str:
    """A training script of about ``n_lines`` lines (never fewer)."""
    parts = [HEADER.format(idx=idx)]
    lines = parts[0].count("\n")
    n = 0
    while lines < n_lines:
        for block in BLOCKS:
            text = block.format(n=n, m=n)
            parts.append(text)
            lines += text.count("\n")
            if lines >= n_lines:
                break
        n += 1
    parts.append('\n\nif __name__ == "__main__":\n    print(run_experiment0(Hparams()))\n')
    return "".join(parts)
