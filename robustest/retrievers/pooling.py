"""Pooling: one vector per text from a model's token states.

Each function takes hidden states (batch, tokens, dim) and an attention mask (batch, tokens)
whose zeros mark padding, and works whichever side the padding is on.
"""

from __future__ import annotations

from ..threads import prefer_sleeping_threads

prefer_sleeping_threads()  # robustest's first import of torch: OpenMP reads its wait policy now
import torch  # noqa: E402


def mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def cls(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The first real token: position 0 with right padding, after the pads with left padding."""
    return hidden[torch.arange(hidden.shape[0]), first_token_index(mask)]


def last(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The last real token, for decoder-only models (the only one that has seen the whole text)."""
    return hidden[torch.arange(hidden.shape[0]), last_token_index(mask)]


def max_tokens(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    masked = hidden.masked_fill(mask.unsqueeze(-1) == 0, torch.finfo(hidden.dtype).min)
    return masked.max(1).values


def first_token_index(mask: torch.Tensor) -> torch.Tensor:
    positions = torch.arange(mask.shape[1], device=mask.device)
    return torch.where(mask.bool(), positions, mask.shape[1]).min(1).values


def last_token_index(mask: torch.Tensor) -> torch.Tensor:
    positions = torch.arange(mask.shape[1], device=mask.device)
    return torch.where(mask.bool(), positions, -1).max(1).values


def without_prefix(mask: torch.Tensor, prefix_lengths: torch.Tensor) -> torch.Tensor:
    """The mask with the first `prefix_lengths[i]` real tokens of row i switched off.

    Used to mean-pool over the text only, not its instruction prompt (ReasonIR, GritLM).
    """
    real_rank = mask.cumsum(1)  # 1 for the first real token, 2 for the second...
    return mask * (real_rank > prefix_lengths.unsqueeze(1)).to(mask.dtype)


POOLINGS = {"mean": mean, "cls": cls, "last": last, "max": max_tokens, "mean_no_prompt": mean}


def pool(hidden: torch.Tensor, mask: torch.Tensor, method: str, *, prefix: int | torch.Tensor = 0, normalize: bool = False) -> torch.Tensor:
    """One float32 vector per row by `method` (a `POOLINGS` name), L2-normalised when `normalize`.

    `mean_no_prompt` leaves out the first `prefix` real tokens of every row (the prompt; a
    tensor: per row). The encoder and HotFlip's gradient both pool through here, so they make
    the same vector.
    """
    if method == "mean_no_prompt" and isinstance(prefix, torch.Tensor):
        mask = without_prefix(mask, prefix.to(mask.device))
    elif method == "mean_no_prompt" and prefix:
        mask = without_prefix(mask, torch.full((mask.shape[0],), prefix, device=mask.device))
    vectors = POOLINGS[method](hidden, mask).float()
    return torch.nn.functional.normalize(vectors, dim=-1) if normalize else vectors
