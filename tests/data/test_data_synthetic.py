import torch

from ifnd.data import load_dataset


def test_synthetic_shapes_and_defaults(fmt):
    tr = load_dataset(fmt.data_cfg(name="synthetic"), "train")
    te = load_dataset(fmt.data_cfg(name="synthetic"), "test")
    assert tr.images.shape == (2000, 3, 32, 32) and tr.images.dtype == torch.uint8
    assert te.images.shape == (500, 3, 32, 32)
    assert tr.num_classes == 10 and torch.bincount(tr.labels).tolist() == [200] * 10
    assert tr.labels.dtype == torch.int64 and tr.in_memory and tr.channels == 3


def test_synthetic_deterministic_and_seeded(fmt):
    cfg = fmt.data_cfg(name="synthetic", train_subset=300, test_subset=100, image_size=16)
    a, b = load_dataset(cfg, "train"), load_dataset(cfg, "train")
    assert a.images.shape == (300, 3, 16, 16)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    c = load_dataset(dict(cfg, subset_seed=1), "train")
    assert not torch.equal(a.images, c.images)
    t = load_dataset(cfg, "test")
    assert len(t) == 100 and not torch.equal(a.images[:100], t.images)


def test_synthetic_classes_are_separable(fmt):
    cfg = fmt.data_cfg(name="synthetic", train_subset=400, test_subset=200)
    tr, te = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    x = tr.images.float().flatten(1)
    centroids = torch.stack([x[tr.labels == c].mean(0) for c in range(10)])
    pred = torch.cdist(te.images.float().flatten(1), centroids).argmin(1)
    assert (pred == te.labels).float().mean() > 0.5


def test_synthetic_classes_option(fmt):
    ds = load_dataset(fmt.data_cfg(name="synthetic", classes=[3, 0, 12], train_subset=30), "train")
    assert ds.num_classes == 3 and len(ds) == 30
    assert torch.bincount(ds.labels).tolist() == [10, 10, 10]
    full = load_dataset(fmt.data_cfg(name="synthetic", train_subset=100), "train")
    # class 3 keeps its look after relabelling: same mean colour as in the 10-class set
    m_sub = ds.images[ds.labels == 0].float().mean((0, 2, 3))
    m_full = full.images[full.labels == 3].float().mean((0, 2, 3))
    assert torch.allclose(m_sub, m_full, atol=12)
