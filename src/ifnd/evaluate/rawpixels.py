"""The raw-pixel reference (the floor row): weighted kNN and a linear classifier on input pixels.

The un-augmented model inputs (padded/resized to ``data.image_size`` and normalised) are
flattened. kNN: L2-normalised pixel vectors, the training set as the bank, ``eval.knn_k``
neighbours and temperature ``eval.knn_t``. The same kNN on the pixels in [0, 1], before the
input standardisation, is kept beside it as ``knn_top1_unstandardised`` (a lower floor on
Fashion-MNIST; the report shows it in a note, never as the floor row). Linear: the same probe
as ``ifnd linear`` on the standardised pixels with the ``eval.linear`` settings, seeded by
``train.seed``.

Semi-supervised floor: for every fraction of ``eval.semisup.fractions``, the same linear probe
trained on the pixels of only the labelled rows that ``ifnd semisup`` fine-tunes on (the
class-balanced split drawn with ``train.seed``), as ``semisup_<percent>_linear_top1``.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from ..augment import normalize, to_float
from .common import add_reference_arguments, open_config, write_metrics
from ..knn import knn_accuracy
from .linear import rows, train_linear_probe
from .semisup import percent_name
from .splits import labelled_rows


def pixel_features(dataset, image_size: int, batch_size: int = 4096) -> torch.Tensor:
    """(N, C, S, S) float32: every image un-augmented, in [0, 1] at ``image_size``; the model
    input is ``normalize`` of it (``augment.to_input``)."""
    n = len(dataset)
    return torch.cat([to_float(rows(dataset, torch.arange(s, min(s + batch_size, n))), image_size)
                      for s in range(0, n, batch_size)])


add_arguments = add_reference_arguments  # the options of a reference computed from a config


def run(args) -> int:
    started = time.time()
    cfg, device, train, test = open_config(args)
    size = cfg["data"]["image_size"]
    ev, lin = cfg["eval"], cfg["eval"]["linear"]
    # one pass over the images: [0, 1] pixels, and the standardised model input derived from them
    train_unit, test_unit = pixel_features(train, size).to(device), pixel_features(test, size).to(device)
    train_x, test_x = normalize(train_unit).flatten(1), normalize(test_unit).flatten(1)

    def pixel_knn(bank: torch.Tensor, queries: torch.Tensor) -> dict:
        return knn_accuracy(F.normalize(bank, dim=1), train.labels.to(device), F.normalize(queries, dim=1),
                            test.labels.to(device), train.num_classes, ev["knn_k"], ev["knn_t"])

    knn = pixel_knn(train_x, test_x)
    unit = pixel_knn(train_unit.flatten(1), test_unit.flatten(1))
    seed = int(cfg["train"]["seed"])

    def probe(labelled: torch.Tensor | None, desc: str) -> dict:
        """The linear probe on the pixels of the rows ``labelled`` (None: every training image)."""
        x, y = (train_x, train.labels) if labelled is None else (train_x[labelled.to(device)], train.labels[labelled])
        return train_linear_probe(x, y, test_x, test.labels, train.num_classes, epochs=lin["epochs"],
                                  lr=lin["lr"], batch_size=lin["batch_size"], weight_decay=lin["weight_decay"],
                                  seed=seed, device=device, progress=bool(cfg["train"].get("progress", True)),
                                  desc=desc)

    linear = probe(None, "linear on pixels")
    metrics = {"knn_top1": knn["top1"], "linear_top1": linear["top1"],
               "knn_top1_unstandardised": unit["top1"]}
    for fraction in ev["semisup"]["fractions"]:
        labelled = torch.from_numpy(labelled_rows(train, ev["semisup"], fraction, seed))
        few = probe(labelled, f"linear on pixels, {100 * fraction:g}% labels")
        metrics[f"semisup_{percent_name(fraction)}_linear_top1"] = few["top1"]
    if "top5" in knn:
        metrics.update(knn_top5=knn["top5"], linear_top5=linear["top5"])
    metrics.update(knn_k=ev["knn_k"], knn_t=ev["knn_t"], linear_epochs=lin["epochs"],
                   linear_train_top1=linear["train_top1"], dim=int(train_x.shape[1]))
    write_metrics(args.out, "rawpixels", metrics, cfg=cfg, started=started,
                  evaluated_on=args.on)
    print(f"raw pixels: kNN top-1 {100 * metrics['knn_top1']:.2f}%, "
          f"linear top-1 {100 * metrics['linear_top1']:.2f}% -> {args.out}")
    return 0
