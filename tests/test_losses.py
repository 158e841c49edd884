"""Hand-checked tests of ifnd.losses (docs/method.md: Base loss, Removal strategies)."""

import math

import pytest
import torch

from ifnd.fnd.masks import false_negative_mask
from ifnd.losses import combine_levels, contrastive_loss, ifnd_loss

SQ3 = math.sqrt(3.0)


def unit(deg):
    r = math.radians(deg)
    return [math.cos(r), math.sin(r)]


# B = 2, d = 2, tau = 0.5 -> s(a, k) = 2 cos(angle between a and k).
# rows: 0 = img0 at 0 deg, 1 = img1 at 90 deg, 2 = img0 at 60 deg, 3 = img1 at 180 deg.
# cos: (0,1)=0, (0,2)=1/2, (0,3)=-1, (1,2)=sqrt3/2, (1,3)=0, (2,3)=-1/2
Z4 = torch.tensor([unit(0), unit(90), unit(60), unit(180)], dtype=torch.float64).float()
IDX4 = torch.tensor([0, 1, 0, 1])
TAU = 0.5
E = math.exp


def nll(num, denom_terms):
    return -math.log(E(num) / sum(E(t) for t in denom_terms))


# Per-anchor NT-Xent by hand: numerator = s(a, p), denominator = all k != a.
L0 = nll(1.0, [0.0, 1.0, -2.0])
L1 = nll(0.0, [0.0, SQ3, 0.0])
L2 = nll(1.0, [1.0, SQ3, -1.0])
L3 = nll(0.0, [-2.0, 0.0, -1.0])
NONE4 = (L0 + L1 + L2 + L3) / 4


def fn_pair_01():
    m = torch.zeros(4, 4, dtype=torch.bool)
    m[0, 1] = m[1, 0] = True
    return m


def test_none_hand_value():
    got = contrastive_loss(Z4, IDX4, TAU, mode="none")
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(NONE4, abs=1e-6)
    # fn_mask is ignored in mode none
    assert contrastive_loss(Z4, IDX4, TAU, fn_pair_01(), "none").item() == pytest.approx(NONE4, abs=1e-6)


def test_elim_hand_value():
    # rows 0 and 1 are false negatives of each other: removed from the denominator.
    l0 = -math.log(E(1.0) / (E(1.0) + E(-2.0)))
    l1 = -math.log(E(0.0) / (E(SQ3) + E(0.0)))
    expected = (l0 + l1 + L2 + L3) / 4
    got = contrastive_loss(Z4, IDX4, TAU, fn_pair_01(), "elim")
    assert got.item() == pytest.approx(expected, abs=1e-6)


def test_attr_hand_value():
    d0 = E(0.0) + E(1.0) + E(-2.0)
    d1 = E(0.0) + E(SQ3) + E(0.0)
    l0 = 0.5 * (-math.log(E(1.0) / d0) - math.log(E(0.0) / d0))  # positives {2, 1}
    l1 = 0.5 * (-math.log(E(0.0) / d1) - math.log(E(0.0) / d1))  # positives {3, 0}
    expected = (l0 + l1 + L2 + L3) / 4
    got = contrastive_loss(Z4, IDX4, TAU, fn_pair_01(), "attr")
    assert got.item() == pytest.approx(expected, abs=1e-6)


def test_asymmetric_mask_only_affects_its_anchor():
    m = torch.zeros(4, 4, dtype=torch.bool)
    m[0, 1] = True
    l0 = -math.log(E(1.0) / (E(1.0) + E(-2.0)))
    got = contrastive_loss(Z4, IDX4, TAU, m, "elim")
    assert got.item() == pytest.approx((l0 + L1 + L2 + L3) / 4, abs=1e-6)


@pytest.mark.parametrize("mode", ["elim", "attr"])
def test_empty_mask_equals_none(mode):
    torch.manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(12, 5), dim=1)
    idx = torch.arange(6).repeat(2)
    base = contrastive_loss(z, idx, 0.2, None, "none")
    assert torch.equal(contrastive_loss(z, idx, 0.2, None, mode), base)
    empty = torch.zeros(12, 12, dtype=torch.bool)
    assert torch.equal(contrastive_loss(z, idx, 0.2, empty, mode), base)
    assert torch.equal(ifnd_loss(z, idx, 0.2, torch.zeros(3, 12, 12, dtype=torch.bool), mode,
                                 "average"), base)
    assert torch.equal(ifnd_loss(z, idx, 0.2, None, mode, "union"), base)


@pytest.mark.parametrize("mode", ["elim", "attr"])
def test_anchor_and_positive_in_mask_are_ignored(mode):
    m = torch.zeros(4, 4, dtype=torch.bool)
    m[0, 0] = m[0, 2] = m[2, 0] = m[3, 1] = m[1, 1] = True  # self and positives only
    got = contrastive_loss(Z4, IDX4, TAU, m, mode)
    assert got.item() == pytest.approx(NONE4, abs=1e-6)
    # all-True mask == "every other image is a false negative"
    full = torch.ones(4, 4, dtype=torch.bool)
    other = IDX4[:, None] != IDX4[None, :]
    assert torch.equal(contrastive_loss(Z4, IDX4, TAU, full, mode),
                       contrastive_loss(Z4, IDX4, TAU, other, mode))


def test_elim_all_negatives_removed_gives_zero():
    full = torch.ones(4, 4, dtype=torch.bool)
    # denominator = the positive alone -> -log(1) = 0 for every anchor, no NaN from -inf.
    assert contrastive_loss(Z4, IDX4, TAU, full, "elim").item() == pytest.approx(0.0, abs=1e-7)


def ref_loss(z, idx, tau, fn, mode):
    """Scalar Python reference: explicit loops and sums."""
    z = z.double().tolist()
    idx = idx.tolist()
    n = len(z)
    s = [[sum(x * y for x, y in zip(z[a], z[k])) / tau for k in range(n)] for a in range(n)]
    total = 0.0
    for a in range(n):
        pos = [k for k in range(n) if k != a and idx[k] == idx[a]]
        fns = [k for k in range(n) if fn is not None and bool(fn[a][k]) and idx[k] != idx[a]]
        if mode == "none":
            fns = []
        denom = [k for k in range(n) if k != a and not (mode == "elim" and k in fns)]
        dsum = sum(math.exp(s[a][k]) for k in denom)
        numer = pos + fns if mode == "attr" else pos
        total += sum(-math.log(math.exp(s[a][q]) / dsum) for q in numer) / len(numer)
    return total / n


@pytest.mark.parametrize("mode", ["none", "elim", "attr"])
def test_random_batches_match_reference(mode):
    g = torch.Generator().manual_seed(1)
    for _trial in range(5):
        z = torch.nn.functional.normalize(torch.randn(6, 3, generator=g), dim=1)
        idx = torch.tensor([4, 9, 1, 4, 9, 1])  # B = 3, arbitrary ids
        fn = torch.rand(6, 6, generator=g) < 0.4
        got = contrastive_loss(z, idx, 0.3, fn, mode).item()
        assert got == pytest.approx(ref_loss(z, idx, 0.3, fn.tolist(), mode), abs=1e-5)


def test_three_views_per_image():
    g = torch.Generator().manual_seed(2)
    z = torch.nn.functional.normalize(torch.randn(6, 4, generator=g), dim=1)
    idx = torch.tensor([0, 1, 0, 1, 0, 1])
    fn = torch.zeros(6, 6, dtype=torch.bool)
    fn[0, 1] = True
    for mode in ["none", "elim", "attr"]:
        got = contrastive_loss(z, idx, 0.5, fn, mode).item()
        assert got == pytest.approx(ref_loss(z, idx, 0.5, fn.tolist(), mode), abs=1e-5)


def test_union_vs_average():
    g = torch.Generator().manual_seed(3)
    z = torch.nn.functional.normalize(torch.randn(6, 3, generator=g), dim=1)
    idx = torch.tensor([0, 1, 2, 0, 1, 2])
    m = torch.zeros(2, 6, 6, dtype=torch.bool)
    m[0, 0, 1] = m[0, 1, 0] = True          # level 0: images 0 and 1 together
    m[1, 2, 0] = m[1, 0, 2] = m[1, 5, 3] = True  # level 1: images 0 and 2 together
    for mode in ["elim", "attr"]:
        union = ref_loss(z, idx, 0.4, (m[0] | m[1]).tolist(), mode)
        avg = 0.5 * (ref_loss(z, idx, 0.4, m[0].tolist(), mode)
                     + ref_loss(z, idx, 0.4, m[1].tolist(), mode))
        assert abs(union - avg) > 1e-4
        assert ifnd_loss(z, idx, 0.4, m, mode, "union").item() == pytest.approx(union, abs=1e-5)
        assert ifnd_loss(z, idx, 0.4, m, mode, "average").item() == pytest.approx(avg, abs=1e-5)
    assert torch.equal(combine_levels(m, "union"), m[0] | m[1])
    with pytest.raises(ValueError):
        combine_levels(m, "average")
    with pytest.raises(ValueError):
        ifnd_loss(z, idx, 0.4, m, "elim", "max")


def test_ifnd_loss_without_masks_is_plain():
    assert ifnd_loss(Z4, IDX4, TAU, None, "elim", "union").item() == pytest.approx(NONE4, abs=1e-6)
    assert ifnd_loss(Z4, IDX4, TAU, fn_pair_01()[None], "none", "union").item() == \
        pytest.approx(NONE4, abs=1e-6)


@pytest.mark.parametrize("mode", ["none", "elim", "attr"])
def test_gradients_finite_bf16_and_low_temperature(mode):
    g = torch.Generator().manual_seed(4)
    base = torch.randn(8, 16, generator=g)
    base[4:] = base[:4] + 1e-3 * torch.randn(4, 16, generator=g)  # near-identical views
    z = torch.nn.functional.normalize(base, dim=1).to(torch.bfloat16).requires_grad_(True)
    idx = torch.arange(4).repeat(2)
    fn = torch.rand(8, 8, generator=g) < 0.5
    loss = contrastive_loss(z, idx, 0.01, fn, mode)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(z.grad.float()).all()
    # bf16 input is computed in float32: same as passing the upcast values
    same = contrastive_loss(z.detach().float(), idx, 0.01, fn, mode)
    assert loss.item() == pytest.approx(same.item(), rel=1e-6)


def test_errors():
    with pytest.raises(ValueError):
        contrastive_loss(Z4, IDX4, TAU, None, "bogus")
    with pytest.raises(ValueError):
        ifnd_loss(Z4, IDX4, TAU, None, "bogus", "union")
    with pytest.raises(ValueError):
        contrastive_loss(Z4, IDX4, 0.0)
    with pytest.raises(ValueError):
        contrastive_loss(Z4, torch.tensor([0, 1, 2, 3]), TAU)  # no positives


def test_false_negative_mask_elementwise():
    # N = 8 images; batch of B = 3 images (ids 5, 2, 7), two views each.
    idx = torch.tensor([5, 2, 7, 5, 2, 7])
    labels = torch.full((2, 8), -1, dtype=torch.int64)
    labels[0, 5], labels[0, 2], labels[0, 7] = 1, 1, -1   # level 0: 5 ~ 2, 7 rejected
    labels[1, 5], labels[1, 2], labels[1, 7] = 3, 4, 4    # level 1: 2 ~ 7
    m = false_negative_mask(idx, labels)
    assert m.shape == (2, 6, 6) and m.dtype == torch.bool
    img = idx.tolist()
    for lvl in range(2):
        for a in range(6):
            for k in range(6):
                ya, yk = int(labels[lvl, img[a]]), int(labels[lvl, img[k]])
                want = ya >= 0 and ya == yk and img[a] != img[k]
                assert bool(m[lvl, a, k]) == want, (lvl, a, k)
    # explicit spot checks
    assert m[0, 0, 1] and m[0, 0, 4] and m[0, 3, 1] and not m[0, 0, 3] and not m[0, 2, 5]
    assert m[1, 1, 2] and m[1, 4, 5] and not m[1, 0, 1]
    # never the anchor itself or its positive
    eye_or_pos = torch.tensor(img)[:, None] == torch.tensor(img)[None, :]
    assert not (m & eye_or_pos).any()
    # 1-D labels = one level
    m1 = false_negative_mask(idx, labels[1])
    assert m1.shape == (1, 6, 6) and torch.equal(m1[0], m[1])
    assert torch.equal(combine_levels(m, "union"), m[0] | m[1])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    g = torch.Generator().manual_seed(5)
    z = torch.nn.functional.normalize(torch.randn(8, 4, generator=g), dim=1)
    idx = torch.arange(4).repeat(2)
    labels = torch.tensor([[0, 0, 1, -1], [0, 1, 1, 1]])
    cpu = ifnd_loss(z, idx, 0.2, false_negative_mask(idx, labels), "elim", "average")
    mask = false_negative_mask(idx.cuda(), labels.cuda())
    assert mask.device.type == "cuda"
    gpu = ifnd_loss(z.cuda(), idx.cuda(), 0.2, mask, "elim", "average")
    assert gpu.item() == pytest.approx(cpu.item(), abs=1e-5)
