"""KD losses against direct formulas: zero for identical logits, ignore-aware, class_map by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from landseg.training.kd_losses import DistillationLoss, validate_class_map

torch.manual_seed(0)
N, C, H, W = 2, 4, 5, 6


def _logits(c: int = C) -> torch.Tensor:
    return torch.randn(N, c, H, W) * 3


def _target() -> torch.Tensor:
    t = torch.randint(0, C, (N, H, W))
    t[0, :2] = 255
    return t


@pytest.mark.parametrize("loss", ["kl", "dist", "cwd"])
def test_zero_for_identical_logits(loss: str) -> None:
    s = _logits()
    assert DistillationLoss(loss, temperature=2.0)(s, s.clone(), _target()).item() == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("loss", ["kl", "dist", "cwd"])
def test_ignored_pixels_change_nothing(loss: str) -> None:
    s, t, y = _logits(), _logits(), _target()
    fn = DistillationLoss(loss, temperature=2.0)
    base = fn(s, t, y)
    s2, t2 = s.clone(), t.clone()
    ignored = (y == 255).unsqueeze(1).expand_as(s)
    s2[ignored] = torch.randn(int(ignored.sum())) * 10
    t2[ignored] = torch.randn(int(ignored.sum())) * 10
    assert fn(s2, t2, y).item() == pytest.approx(base.item(), rel=1e-5, abs=1e-6)
    s3 = s2.clone().requires_grad_(True)
    fn(s3, t2, y).backward()
    assert s3.grad is not None and s3.grad[ignored].abs().max() == 0


def test_kl_equals_direct_formula() -> None:
    s, t, y = _logits(), _logits(), _target()
    temp = 3.0
    p_t = F.softmax(t / temp, 1)
    kl = (p_t * (F.log_softmax(t / temp, 1) - F.log_softmax(s / temp, 1))).sum(1)
    valid = y != 255
    expected = kl[valid].mean() * temp**2
    assert DistillationLoss("kl", temp)(s, t, y).item() == pytest.approx(expected.item(), rel=1e-5)


def test_dist_equals_direct_formula() -> None:
    s, t, y = _logits(), _logits(), _target()
    valid = (y != 255).reshape(-1)
    ps = F.softmax(s, 1).permute(0, 2, 3, 1).reshape(-1, C)[valid]
    pt = F.softmax(t, 1).permute(0, 2, 3, 1).reshape(-1, C)[valid]

    def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return F.cosine_similarity(a - a.mean(), b - b.mean(), dim=0, eps=1e-8)

    inter = 1 - torch.stack([pearson(ps[i], pt[i]) for i in range(len(ps))]).mean()
    intra = 1 - torch.stack([pearson(ps[:, c], pt[:, c]) for c in range(C)]).mean()
    assert DistillationLoss("dist", 1.0)(s, t, y).item() == pytest.approx((inter + intra).item(), rel=1e-4)


def test_cwd_equals_direct_formula() -> None:
    s, t = _logits(), _logits()
    temp = 4.0
    total = 0.0
    for n in range(N):
        for c in range(C):
            ps = F.log_softmax(s[n, c].reshape(-1) / temp, 0)
            pt = F.log_softmax(t[n, c].reshape(-1) / temp, 0)
            total += (pt.exp() * (pt - ps)).sum().item()
    expected = total / (N * C) * temp**2
    assert DistillationLoss("cwd", temp)(s, t).item() == pytest.approx(expected, rel=1e-5)


def test_class_map_path_equals_hand_computation() -> None:
    # 3 teacher classes -> 2 student classes: teacher 0,1 -> student 0; teacher 2 split 50/50.
    m = validate_class_map([[1, 0], [1, 0], [0.5, 0.5]], 3, 2)
    t = torch.tensor([2.0, 0.0, 1.0]).view(1, 3, 1, 1)
    s = torch.tensor([0.3, -0.2]).view(1, 2, 1, 1)
    pt = torch.softmax(torch.tensor([2.0, 0.0, 1.0]), 0)
    q = torch.stack([pt[0] + pt[1] + 0.5 * pt[2], 0.5 * pt[2]])
    ps = torch.softmax(torch.tensor([0.3, -0.2]), 0)
    expected = (q * (q.log() - ps.log())).sum()
    assert DistillationLoss("kl", 1.0, class_map=m)(s, t).item() == pytest.approx(expected.item(), rel=1e-5)


def test_teacher_logits_are_resized_to_the_student() -> None:
    s = _logits()
    t = F.interpolate(s, scale_factor=0.5, mode="bilinear", align_corners=False)
    up = F.interpolate(t, size=s.shape[-2:], mode="bilinear", align_corners=False)
    for name in ("kl", "dist", "cwd"):
        loss = DistillationLoss(name)
        assert loss(s, t).item() == pytest.approx(loss(s, up).item(), rel=1e-6)  # resized, then compared
        assert loss(s, t).item() > 0  # a blurred teacher is not the student
    assert DistillationLoss("kl")(s, s).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("bad,match", [([[1, 0], [0.5, 0.4]], "rows must sum to 1"), ([[1, 0]], "shape"),
                                       ([[1.5, -0.5], [0, 1]], ">= 0")])
def test_bad_class_map(bad: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        validate_class_map(bad, 2, 2)
