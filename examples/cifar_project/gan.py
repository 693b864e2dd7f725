"""One DCGAN training step."""

import torch
import torch.nn as nn


def train_gan(generator, discriminator, loader, opt_g, opt_d, nz=100, device="cpu"):
    bce = nn.BCEWithLogitsLoss()
    for real, _ in loader:
        real = real.to(device)
        b = real.size(0)
        noise = torch.randn(b, nz, 1, 1, device=device)
        fake = generator(noise)

        # discriminator step: reuses `fake` without detaching it
        d_loss = bce(discriminator(real), torch.ones(b, device=device)) + bce(
            discriminator(fake), torch.zeros(b, device=device)
        )
        d_loss.backward()
        opt_d.step()

        # generator step: backward through the graph of `fake` a second time
        g_loss = bce(discriminator(fake), torch.ones(b, device=device))
        g_loss.backward()
        opt_g.step()
