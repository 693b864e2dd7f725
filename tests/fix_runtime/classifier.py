"""A tiny classifier trained for a few steps on CPU, with pitfalls whose fixes must keep it running."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.bn = nn.BatchNorm1d(16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        h = F.relu(self.bn(self.fc1(x)))
        h = F.dropout(h, p=0.5)
        return self.fc2(h)


def evaluate(model, batches):
    correct = 0
    for x, y in batches:
        correct += (model(x).argmax(1) == y).sum().item()
    return correct


def main():
    torch.manual_seed(0)
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    batches = [(torch.randn(4, 8), torch.randint(0, 3, (4,))) for _ in range(3)]
    before = [p.detach().clone() for p in model.parameters()]
    for epoch in range(2):
        model.train()
        for x, y in batches:
            optimizer.zero_grad()
            probs = F.softmax(model(x), dim=1)
            loss = F.cross_entropy(probs, y)
            loss.backward()
            optimizer.step()
        model.eval()
        evaluate(model, batches)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters())), "training did not change the parameters"
    print("ok")


if __name__ == "__main__":
    main()
