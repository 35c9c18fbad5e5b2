"""CEDiceLoss: CE equals F.cross_entropy, Dice matches an smp-style reference and hand values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from landseg.training.losses import CEDiceLoss

IGNORE = 255


def _batch(seed: int = 0, n: int = 2, c: int = 6, size: int = 12, ignore_frac: float = 0.2):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, size, size, generator=gen)
    target = torch.randint(0, c, (n, size, size), generator=gen)
    target[torch.rand(n, size, size, generator=gen) < ignore_frac] = IGNORE
    return logits, target


def _reference_dice(logits, target, smooth, ignore_index=IGNORE):
    """Straightforward re-statement of smp's multiclass DiceLoss with F.one_hot (independent code path)."""
    n, c = logits.shape[:2]
    probs = logits.softmax(1).reshape(n, c, -1)
    y = target.reshape(n, -1)
    mask = y != ignore_index
    probs = probs * mask.unsqueeze(1)
    onehot = F.one_hot(y * mask, c).permute(0, 2, 1) * mask.unsqueeze(1)
    onehot = onehot.float()
    inter = (probs * onehot).sum((0, 2))
    card = (probs + onehot).sum((0, 2))
    loss = 1 - (2 * inter + smooth) / (card + smooth).clamp_min(1e-7)
    return (loss * (onehot.sum((0, 2)) > 0)).mean()


def test_ce_part_equals_torch_cross_entropy():
    logits, target = _batch()
    parts = CEDiceLoss(6, label_smoothing=0.05).forward_parts(logits, target)
    expected = F.cross_entropy(logits, target, ignore_index=IGNORE, label_smoothing=0.05)
    assert parts["ce"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert parts["loss"].item() == pytest.approx((parts["ce"] + parts["dice"]).item(), rel=1e-6)

    weighted = CEDiceLoss(6, ce_weight=0.3, dice_weight=2.0).forward_parts(logits, target)
    assert weighted["loss"].item() == pytest.approx(0.3 * weighted["ce"].item() + 2.0 * weighted["dice"].item())


def test_dice_matches_smp_style_reference():
    logits, target = _batch(seed=1)
    target[target == 3] = 0  # one class absent from the batch: masked out, still in the mean's denominator
    dice = CEDiceLoss(6, dice_smooth=0.05).forward_parts(logits, target)["dice"]
    assert dice.item() == pytest.approx(_reference_dice(logits, target, 0.05).item(), rel=1e-6)


def test_hand_computed_dice():
    # Uniform logits → p = 0.5 everywhere. Target [0, 1, ignore].
    logits = torch.zeros(1, 2, 1, 3)
    logits[0, :, 0, 2] = torch.tensor([9.0, -9.0])  # ignored pixel: must not matter
    target = torch.tensor([[[0, 1, IGNORE]]])
    s = 0.05
    # Each class: intersection 0.5, cardinality 0.5 + 0.5 + 1 = 2.
    dice = CEDiceLoss(2, dice_smooth=s).forward_parts(logits, target)["dice"]
    assert dice.item() == pytest.approx(1 - (2 * 0.5 + s) / (2 + s))
    # Target [0, 0]: class 1 absent → masked; class 0: inter 1.0, card 1.0 + 2 = 3; mean over 2 classes.
    target = torch.tensor([[[0, 0, IGNORE]]])
    dice = CEDiceLoss(2, dice_smooth=s).forward_parts(logits, target)["dice"]
    assert dice.item() == pytest.approx((1 - (2 + s) / (3 + s)) / 2)


def test_ignored_pixels_have_no_effect_and_no_gradient():
    logits, target = _batch(seed=2)
    ignored = (target == IGNORE).unsqueeze(1).expand_as(logits)
    loss_fn = CEDiceLoss(6)

    logits.requires_grad_(True)
    loss = loss_fn(logits, target)
    loss.backward()
    assert torch.all(logits.grad[ignored] == 0)
    assert logits.grad[~ignored].abs().sum() > 0

    changed = logits.detach().clone()
    changed[ignored] = torch.randn(int(ignored.sum())) * 50
    assert loss_fn(changed, target).item() == pytest.approx(loss.item(), rel=1e-6)


def test_perfect_prediction_gives_zero_dice():
    _, target = _batch(seed=3)
    safe = torch.where(target == IGNORE, 0, target)
    logits = F.one_hot(safe, 6).permute(0, 3, 1, 2).float() * 100.0
    parts = CEDiceLoss(6).forward_parts(logits, target)
    assert parts["dice"].item() == pytest.approx(0.0, abs=1e-6)


def test_all_ignored_batch_is_zero_and_differentiable():
    logits = torch.randn(2, 6, 8, 8, requires_grad=True)
    target = torch.full((2, 8, 8), IGNORE)
    parts = CEDiceLoss(6).forward_parts(logits, target)
    for key, value in parts.items():
        assert math.isfinite(value.item()) and value.item() == 0.0, key
    parts["loss"].backward()
    assert logits.grad is not None and torch.all(logits.grad == 0)


def test_gradient_flows_and_training_step_reduces_loss():
    logits, target = _batch(seed=4)
    param = torch.nn.Parameter(logits.clone())
    loss_fn = CEDiceLoss(6)
    opt = torch.optim.SGD([param], lr=5.0)
    first = loss_fn(param, target)
    first.backward()
    assert param.grad is not None and torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0
    opt.step()
    assert loss_fn(param, target).item() < first.item()


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match="logits"):
        CEDiceLoss(6)(torch.randn(1, 5, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="Target shape"):
        CEDiceLoss(6)(torch.randn(1, 6, 4, 4), torch.zeros(1, 4, 5, dtype=torch.long))
    # (N, 1, H, W) targets are accepted.
    CEDiceLoss(6)(torch.randn(1, 6, 4, 4), torch.zeros(1, 1, 4, 4, dtype=torch.long))
