"""bench/moco_lightly.py, our side only (lightly is not needed): what it times is the trainer's
MoCo v2 step on the same inputs, and the queue memory it states is the queue's tensors."""

from pathlib import Path

import torch

from ifnd.config import load_config
from ifnd.train import Pretrainer

from .conftest import load_bench

REPO = Path(__file__).resolve().parents[2]


def test_the_bench_times_the_trainer_s_moco_step():
    """The bench's side A after three steps equals a trainer configured here by hand (MoCo v2,
    config/moco.yaml's momentum, BN splits and learning rate) stepped on the same views: model,
    momentum encoder, queue and losses bitwise."""
    torch.set_num_threads(1)
    bench = load_bench("moco_lightly")
    batch, queue = 8, 40
    ours = bench.OursMoco("ours", bench.moco_config(batch, queue, "testbed", "fp32", False, quick=True),
                          3, torch.device("cpu"))
    batches = bench.make_inputs(ours.trainer, 2)
    ours.prepare(batches)
    bench_losses = [ours.step(j) for j in range(3)]

    cfg = load_config(REPO / "config" / "config.yaml", {
        "method.name": "simclr", "train.progress": False, "train.seed": 0, "train.framework": "moco",
        "train.moco": {"queue_size": queue, "momentum": 0.99, "bn_splits": 4}, "train.lr": 0.06,
        "train.batch_size": batch, "train.precision": "fp32", "train.channels_last": False,
        "data.name": "synthetic", "data.image_size": 32, "data.train_subset": 2 * batch,
        "data.val_subset": 16, "data.test_subset": 16, "train.knn_monitor_images": 16,
        "model.width": 4, "model.proj_hidden": 32, "model.proj_dim": 16})
    trainer = Pretrainer(cfg)
    losses = []
    for s in range(3):
        x, indexes = batches[s % 2]
        trainer.schedule(s)
        losses.append(trainer.step(x, indexes)[0])
    assert [float(v) for v in bench_losses] == [float(v) for v in losses]
    for mine, theirs in ((ours.trainer.model, trainer.model), (ours.trainer.moco.key_model, trainer.moco.key_model)):
        a, b = mine.state_dict(), theirs.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
    q, r = ours.trainer.moco.queue, trainer.moco.queue
    assert torch.equal(q.keys, r.keys) and torch.equal(q.indexes, r.indexes)
    assert q.ptr == r.ptr == (3 * 2 * batch) % queue
    # full after wrapping around, every key beside its image's index
    assert set(q.indexes.tolist()) == set(range(2 * batch))


def test_grey_input_gives_the_one_channel_model_and_channels_last_follows_the_trainer():
    bench = load_bench("moco_lightly")
    ours = bench.OursMoco("ours", bench.moco_config(8, 16, "fashion-mnist", "fp32", True, quick=True),
                          1, torch.device("cpu"))
    assert ours.trainer.train_set.channels == 1 and ours.trainer.model.backbone.stem[0].in_channels == 1
    ours.prepare(bench.make_inputs(ours.trainer, 1))
    x = ours.batches[0][0]
    assert x.shape[1:] == (1, 28, 28) and x.is_contiguous(memory_format=torch.channels_last)


def test_queue_memory_is_the_queue_s_keys_and_indexes(tmp_path):
    """The stated figure: K float32 keys of d floats and K int64 indexes, as the tensors hold;
    the script's quick run writes it into the .md without lightly."""
    bench = load_bench("moco_lightly")
    out = tmp_path / "moco.md"
    entry = bench.main(["--quick", "--sides", "ours,ours-fp32-contiguous", "--queues", "48",
                        "--threads", "1", "--out", str(out)])
    res = entry["results"]["fashion-mnist/48"]["sides"]
    d = 16  # the quick model's proj_dim
    assert res["ours"]["queue_bytes"] == res["ours-fp32-contiguous"]["queue_bytes"] == 48 * (d * 4 + 8)
    ours = bench.OursMoco("ours", bench.moco_config(8, 48, "testbed", "fp32", False, quick=True),
                          3, torch.device("cpu"))
    state = ours.trainer.moco.queue.state_dict()
    assert ours.queue_bytes() == state["keys"].nbytes + state["indexes"].nbytes == 48 * (d * 4 + 8)
    text = out.read_text()
    assert "| ours | " in text and f"{48 * (d * 4 + 8):,} B" in text and "smoke run" in text
    assert all(r["median_ms"] > 0 and r["images_per_s"] > 0 for r in res.values())
