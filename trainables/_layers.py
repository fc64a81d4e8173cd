"""Building blocks shared by the fully connected families (autoencoder, vae, gan)."""
from __future__ import annotations

from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "elu": nn.ELU,
               "leaky_relu": lambda: nn.LeakyReLU(0.2), "silu": nn.SiLU}


def widths(hidden_size: int, hidden_layers: int, floor: int = 1) -> list[int]:
    """Hidden widths that halve layer by layer: 128, 2 -> [128, 64]; never below ``floor``."""
    return [max(floor, hidden_size // 2 ** i) for i in range(hidden_layers)]


def mlp(sizes: list[int], activation: str = "relu") -> nn.Sequential:
    """Linear layers through ``sizes`` with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)
