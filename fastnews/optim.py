"""RowAdam: AdamW, with embedding tables moving a row only on the steps that touch it.

Dense Adam decays every row's moments on every step, gradient or not. For a row that a
batch touches rarely (a rare word, a bigram bucket), the first gradient after a long
gap then meets a second moment that has decayed towards zero, and ten or so steps of
the leftover first moment push it by ~30 x lr for a single occurrence: rare words are
memorised, and fine-tuned GloVe vectors lose what they knew. RowAdam keeps one step
count per row and updates a row's moments and weights only on steps where its gradient
is non-zero, so each row follows Adam on its own sequence of gradients ("lazy Adam"),
moving ~lr per occurrence. Gradients stay dense, so DDP all-reduces them as usual, and
nothing waits on the host.
"""

from __future__ import annotations

import torch


class RowAdam(torch.optim.Optimizer):
    """AdamW, except that in parameter groups with rows=True (2-D embedding tables (V, D),
    no weight decay) each row keeps its own step count and moves only when its gradient
    is non-zero."""

    def __init__(self, groups, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(groups, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "rows": False})

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    (self._row_step if group["rows"] else self._dense_step)(p, group)
        return loss

    def _moments(self, p: torch.Tensor, steps_shape) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        state = self.state[p]
        if not state:
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
            state["steps"] = torch.zeros(steps_shape, device=p.device, dtype=torch.float32)
        return state["exp_avg"], state["exp_avg_sq"], state["steps"]

    def _dense_step(self, p: torch.Tensor, group: dict) -> None:
        beta1, beta2 = group["betas"]
        m, v, steps = self._moments(p, ())
        steps.add_(1)
        p.mul_(1 - group["lr"] * group["weight_decay"])
        m.lerp_(p.grad, 1 - beta1)
        v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
        p.sub_(group["lr"] * (m / (1 - beta1 ** steps)) / ((v / (1 - beta2 ** steps)).sqrt() + group["eps"]))

    def _row_step(self, p: torch.Tensor, group: dict) -> None:
        beta1, beta2 = group["betas"]
        g = p.grad  # (V, D)
        m, v, steps = self._moments(p, (p.shape[0], 1))
        touched = (g != 0).any(dim=1, keepdim=True)  # (V, 1)
        steps.add_(touched.to(steps.dtype))
        m.copy_(torch.where(touched, beta1 * m + (1 - beta1) * g, m))
        v.copy_(torch.where(touched, beta2 * v + (1 - beta2) * g * g, v))
        t = steps.clamp(min=1)
        update = group["lr"] * (m / (1 - beta1 ** t)) / ((v / (1 - beta2 ** t)).sqrt() + group["eps"])
        p.sub_(torch.where(touched, update, torch.zeros_like(p)))
