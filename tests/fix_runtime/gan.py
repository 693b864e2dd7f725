"""A two-optimizer GAN step and a critic with a reused graph: backward, retain_graph and mode pitfalls."""
import torch
import torch.nn as nn
from torch.autograd import Variable


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 1))

    def forward(self, x):
        return self.net(x)


def main():
    torch.manual_seed(0)
    gen = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 4))
    critic = Critic()
    opt_g = torch.optim.SGD(gen.parameters(), lr=0.01)
    opt_c = torch.optim.SGD(critic.parameters(), lr=0.01)
    before = [p.detach().clone() for p in gen.parameters()]
    for step in range(3):
        real = torch.randn(8, 4)
        z = torch.randn(8, 2)
        opt_c.zero_grad()
        fake = gen(z)
        c_loss = critic(fake.detach()).mean() - critic(real).mean()
        c_loss.backward(retain_graph=True)
        opt_c.step()
        opt_g.zero_grad()
        g_loss = -critic(fake).mean()
        g_loss.backward()
        opt_g.step()
    critic.eval()
    for _ in range(2):
        scores = critic(Variable(torch.randn(8, 4), volatile=True))
        assert scores.shape == (8, 1)
    assert any(not torch.equal(a, b) for a, b in zip(before, gen.parameters())), "the generator did not train"
    print("ok")


if __name__ == "__main__":
    main()
