"""MoCo v2: the queue's bookkeeping, the false-negative masks over the queue, the loss against
hand computation, the momentum update and shuffled split BatchNorm."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ifnd.moco import KeyQueue, momentum_copy, momentum_update, moco_loss, queue_fn_masks, split_forward


def test_queue_keeps_order_and_indexes_across_wrap_around():
    q = KeyQueue(5, 2)
    assert q.indexes.tolist() == [-1] * 5
    q.push(torch.tensor([[1.0, 0], [2, 0], [3, 0]]), torch.tensor([10, 11, 12]))
    assert q.ptr == 3 and q.indexes.tolist() == [10, 11, 12, -1, -1]
    q.push(torch.tensor([[4.0, 0], [5, 0], [6, 0]]), torch.tensor([13, 14, 15]))
    # slots 3, 4, then wrap to 0: the oldest key (image 10) is overwritten
    assert q.ptr == 1 and q.indexes.tolist() == [15, 11, 12, 13, 14]
    assert q.keys[:, 0].tolist() == [6, 2, 3, 4, 5]
    q.push(torch.arange(14.0).reshape(7, 2), torch.arange(20, 27))   # more rows than slots
    assert sorted(q.indexes.tolist()) == [22, 23, 24, 25, 26]
    state = q.state_dict()
    r = KeyQueue(5, 2)
    r.load_state_dict(state)
    assert torch.equal(r.keys, q.keys) and torch.equal(r.indexes, q.indexes) and r.ptr == q.ptr


def test_false_negative_masks_over_a_hand_built_queue():
    # images 0..5; level 0 labels [0, 0, 1, 1, -1, 0]; level 1 labels [2, -1, 2, 3, 3, 3]
    labels = torch.tensor([[0, 0, 1, 1, -1, 0], [2, -1, 2, 3, 3, 3]])
    anchors = torch.tensor([0, 3])
    queue = torch.tensor([1, 0, 2, 5, -1, 4])   # slot 1 holds the anchor 0's own image, slot 4 empty
    m = queue_fn_masks(anchors, queue, labels)
    assert m.shape == (2, 2, 6)
    # level 0: anchor 0 (label 0) matches images 1 and 5; anchor 3 (label 1) matches image 2
    assert m[0, 0].tolist() == [True, False, False, True, False, False]
    assert m[0, 1].tolist() == [False, False, True, False, False, False]
    # level 1: anchor 0 (label 2) matches image 2; anchor 3 (label 3) matches images 5 and 4
    assert m[1, 0].tolist() == [False, False, True, False, False, False]
    assert m[1, 1].tolist() == [False, False, False, True, False, True]
    assert queue_fn_masks(anchors, queue, None) is None


def _unit(*rows):
    return F.normalize(torch.tensor(rows, dtype=torch.float32), dim=1)


def test_loss_equals_hand_computed_infonce_with_exclusions():
    """Two anchors; queue of three keys (one of anchor 0's own image, one empty slot)."""
    tau = 0.5
    q = _unit([1.0, 0.0], [0.0, 1.0])
    k = _unit([0.6, 0.8], [0.8, 0.6])
    queue = _unit([1.0, 1.0], [-1.0, 0.0], [0.0, -1.0])
    qidx = torch.tensor([7, 0, -1])          # slot 1: anchor 0's image; slot 2: empty
    anchors = torch.tensor([0, 1])
    got = moco_loss(q, k, anchors, queue, qidx, tau)
    s = 1 / math.sqrt(2)
    # anchor 0: positive 0.6, negatives: slot 0 only (slot 1 own image, slot 2 empty)
    l0 = -0.6 / tau + math.log(math.exp(0.6 / tau) + math.exp(s / tau))
    # anchor 1: positive 0.6, negatives: slots 0 and 1 (image 0 is another image for anchor 1)
    l1 = -0.6 / tau + math.log(math.exp(0.6 / tau) + math.exp(s / tau) + math.exp(0.0 / tau))
    assert got.item() == pytest.approx((l0 + l1) / 2, rel=1e-6)
    # elimination: slot 1 is a false negative of anchor 1 -> out of its denominator
    masks = torch.zeros(1, 2, 3, dtype=torch.bool)
    masks[0, 1, 1] = True
    elim = moco_loss(q, k, anchors, queue, qidx, tau, masks, "elim")
    l1e = -0.6 / tau + math.log(math.exp(0.6 / tau) + math.exp(s / tau))
    assert elim.item() == pytest.approx((l0 + l1e) / 2, rel=1e-6)
    # attraction: slot 1 is an extra positive of anchor 1
    attr = moco_loss(q, k, anchors, queue, qidx, tau, masks, "attr")
    denom = math.log(math.exp(0.6 / tau) + math.exp(s / tau) + 1.0)
    l1a = ((denom - 0.6 / tau) + (denom - 0.0)) / 2
    assert attr.item() == pytest.approx((l0 + l1a) / 2, rel=1e-6)
    # an empty mask changes nothing
    assert moco_loss(q, k, anchors, queue, qidx, tau, torch.zeros(1, 2, 3, dtype=torch.bool),
                     "elim").item() == pytest.approx(got.item(), rel=1e-7)


def test_momentum_zero_and_a_queue_of_the_current_keys_is_plain_infonce():
    """With m = 0 the momentum encoder is the online one; a queue holding exactly this batch's
    keys makes every other image's key a negative (the anchor's own key excluded): the loss is
    InfoNCE over the batch's keys, computed here by hand with cross-entropy."""
    torch.manual_seed(0)
    online = nn.Sequential(nn.Linear(4, 3))
    target = momentum_copy(online)
    with torch.no_grad():
        target[0].weight.add_(1.0)                 # a stale target ...
    momentum_update(online, target, 0.0)           # ... is replaced at m = 0
    x = torch.randn(5, 4)
    q = F.normalize(online(x), dim=1)
    k = F.normalize(target(x), dim=1).detach()
    queue = KeyQueue(5, 3)
    idx = torch.arange(5)
    queue.push(k, idx)
    got = moco_loss(q, k, idx, queue.keys, queue.indexes, 0.2)
    logits = q @ k.T / 0.2                          # column j: image j's key (j == i: the positive)
    expected = F.cross_entropy(logits, idx)
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)


def test_momentum_update_against_a_hand_computed_step():
    online = nn.Sequential(nn.Linear(2, 1, bias=False), nn.BatchNorm1d(1))
    target = momentum_copy(online)
    with torch.no_grad():
        online[0].weight.copy_(torch.tensor([[1.0, 2.0]]))
        target[0].weight.copy_(torch.tensor([[3.0, -1.0]]))
        online[1].running_mean.fill_(0.5)
    momentum_update(online, target, 0.9)
    assert target[0].weight.tolist() == [pytest.approx([0.9 * 3 + 0.1 * 1, 0.9 * -1 + 0.1 * 2])]
    assert target[1].running_mean.item() == 0.5      # buffers are copied
    assert not any(p.requires_grad for p in target.parameters())


def test_split_forward_gives_each_group_its_own_batchnorm_and_restores_the_order():
    bn = nn.BatchNorm1d(1, affine=False)
    x = torch.tensor([[0.0], [2.0], [10.0], [14.0]])
    out = split_forward(bn, x, 2)
    # groups {0, 2} and {10, 14}: each normalised by its own mean and (biased) variance
    assert out[:, 0].tolist() == pytest.approx([-1, 1, -1, 1], abs=1e-3)
    order = torch.tensor([0, 2, 1, 3])             # groups {0, 10} and {2, 14}
    shuffled = split_forward(bn, x, 2, order)
    assert shuffled[:, 0].tolist() == pytest.approx([-1, -1, 1, 1], abs=1e-3)
