"""Parameter-efficient modules inside a pretrained transformer: LoRA (through `peft`) and
bottleneck adapters (our own), several of them side by side, one set active per forward pass.

- LoRA (Hu et al. 2022, ICLR, "LoRA: Low-Rank Adaptation of Large Language Models", Eq. 3):
  a frozen or trained weight W gets h = W x + (alpha / r) B A x per adapter, with A: r x d, B: d x r,
  B = 0 at the start. `peft.inject_adapter_in_model` adds the A, B pairs of every named adapter to
  the target linear layers; `LoRAStack.activate` picks which of them the next forward pass adds up
  (the shared one and one task's). It sets the layers' active adapters directly, as
  `peft`'s own `set_adapter` does, without its side effect of switching `requires_grad` (every
  adapter trains in every step; only the forward pass chooses).
- Bottleneck adapters (Houlsby et al. 2019, ICML, "Parameter-Efficient Transfer Learning for NLP",
  §2.1; one adapter after each layer, as in Pfeiffer et al. 2021's placement): h <- h + U f(D h),
  D: m x d, U: d x m with U = 0 at the start, so an adapter begins as the identity. Active adapters
  are summed: h + a_shared(h) + a_task(h). AdapterHub's `adapters` library pins transformers 4.x,
  which our transformers 5 pin excludes, and `peft` has no bottleneck adapter, so this is ours.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import nn


class LoRAStack:
    """Named LoRA adapters injected into `model` (a transformers model) with `peft`."""

    def __init__(
        self, model: nn.Module, names: Sequence[str], *, rank: int, alpha: int, dropout: float, targets: Sequence[str]
    ) -> None:
        try:
            from peft import LoraConfig, inject_adapter_in_model
            from peft.tuners.tuners_utils import BaseTunerLayer
        except ImportError:
            from ..errors import ConfigError

            raise ConfigError("model.modular: LoRA needs the peft package (pip install 'textmtl[peft]')") from None
        frozen = {id(p): p.requires_grad for p in model.parameters()}
        config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # peft warns about the missing PeftModel wrapper, which we do not want
            for name in names:
                inject_adapter_in_model(config, model, adapter_name=name)
        for p in model.parameters():  # injecting froze the base model: that is the caller's choice
            if id(p) in frozen:
                p.requires_grad_(frozen[id(p)])
        self.layers = [m for m in model.modules() if isinstance(m, BaseTunerLayer)]
        if not self.layers:
            from ..errors import ConfigError

            raise ConfigError(f"model.modular.target_modules: no layer of the encoder is named {list(targets)}")
        self.names = list(names)

    def parameters(self, name: str) -> list[nn.Parameter]:
        """The A and B matrices of adapter `name` in every target layer."""
        out: list[nn.Parameter] = []
        for layer in self.layers:
            for attr in ("lora_A", "lora_B"):
                module = getattr(layer, attr)
                if name in module:
                    out.extend(module[name].parameters())
        return out

    def activate(self, names: Sequence[str]) -> None:
        for layer in self.layers:
            layer._active_adapter = list(names)


class BottleneckAdapter(nn.Module):
    """h -> U gelu(D h) (Houlsby et al. 2019); U starts at zero, so h + adapter(h) starts as h."""

    def __init__(self, width: int, size: int) -> None:
        super().__init__()
        self.down = nn.Linear(width, size)
        self.up = nn.Linear(size, width)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.up(nn.functional.gelu(self.down(hidden)))


class AdapterStack(nn.Module):
    """Named bottleneck adapters after every layer of `layers` (a transformer's layer list), applied
    through forward hooks: a layer's output h becomes h + Σ_active adapter_l(h)."""

    def __init__(self, layers: nn.ModuleList, names: Sequence[str], *, width: int, size: int) -> None:
        super().__init__()
        self.adapters = nn.ModuleDict(
            {name: nn.ModuleList(BottleneckAdapter(width, size) for _ in layers) for name in names}
        )
        self.active: list[str] = []
        self._hooks = [layer.register_forward_hook(self._hook(i)) for i, layer in enumerate(layers)]

    def _hook(self, index: int):
        def add_adapters(module, args, output):
            del module, args
            hidden = output[0] if isinstance(output, tuple) else output
            adapted = hidden
            for name in self.active:
                adapted = adapted + self.adapters[name][index](hidden)
            return (adapted, *output[1:]) if isinstance(output, tuple) else adapted

        return add_adapters

    def parameters_of(self, name: str) -> list[nn.Parameter]:
        return list(self.adapters[name].parameters())

    def activate(self, names: Sequence[str]) -> None:
        self.active = list(names)
