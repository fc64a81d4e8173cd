"""What each built-in family allows when weights move between studies (standard library only).

Read by the spec check for ``init_from`` (the web service validates specs
without importing torch), by the fine-tuning code and by export:

- ``architecture``: the hyperparameters that shape the weights. A study that
  starts from another trial's weights takes them from that trial; searching
  or changing them is a field error.
- ``groups``: the layer groups ``freeze:`` may name, each a set of parameter
  name prefixes of the family's ``nn.Module``.
- ``head``: the output layer that ``reset_head: true`` builds afresh (for new
  classes); ``None`` when the family has no classifier head.
- ``predicts``: what the exported model returns for an input batch; ``None``
  when the family's forward pass is not a plain ``x -> tensor`` prediction
  (vae samples noise, gan has no input), so export refuses it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hpsearch.exceptions import SpecError


@dataclass(frozen=True)
class Transfer:
    architecture: tuple[str, ...]
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    head: tuple[str, ...] | None = None
    predicts: str | None = None


TRANSFER: dict[str, Transfer] = {
    "cnn": Transfer(("conv_layers", "channels", "kernel_size", "batch_norm"),
                    {"features": ("features.",), "head": ("head.",)},
                    head=("head.",), predicts="class logits, shape (N, classes)"),
    "rnn": Transfer(("cell", "hidden_size", "num_layers", "bidirectional"),
                    {"rnn": ("rnn.",), "head": ("head.",)},
                    head=("head.",),
                    predicts="class logits (N, classes) or standardised forecasts (N, K)"),
    "autoencoder": Transfer(("latent_size", "hidden_size", "hidden_layers", "activation"),
                            {"encoder": ("encoder.",), "decoder": ("decoder.",)},
                            predicts="reconstructions, shape (N, features)"),
    "vae": Transfer(("latent_size", "hidden_size", "hidden_layers", "activation"),
                    {"encoder": ("encoder.", "to_stats."), "decoder": ("decoder.",)}),
    "gan": Transfer(("latent_size", "g_hidden", "d_hidden"),
                    {"generator": ("generator.",), "discriminator": ("discriminator.",)}),
}


def get(family: str, field_name: str = "trainable") -> Transfer:
    """The family's entry; a :class:`SpecError` on ``field_name`` for one without."""
    try:
        return TRANSFER[family]
    except KeyError:
        raise SpecError(f"{family!r} has no trained-weights support; families that have: "
                        f"{', '.join(sorted(TRANSFER))}", field_name) from None


def exportable() -> list[str]:
    return sorted(name for name, t in TRANSFER.items() if t.predicts)
