"""``ifnd <step>``: the one command line that people, Snakemake rules and DVC stages call.

Each step lives in its own module, which defines ``add_arguments(parser)`` and ``run(args)``.
Only the chosen step's module is imported, so ``ifnd --help`` stays quick.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import UserError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("ifnd.check", "validate a config and check that its dataset is readable"),
    "pretrain": ("ifnd.pretrain", "contrastive pretraining (SimCLR or MoCo v2): plain, IFND, the oracle or a control"),
    "knn": ("ifnd.evaluate.knn", "weighted kNN evaluation of a pretrained encoder"),
    "linear": ("ifnd.evaluate.linear", "linear evaluation on frozen backbone features"),
    "splits": ("ifnd.evaluate.splits", "write class-balanced label-subset files for semi-supervised runs"),
    "semisup": ("ifnd.evaluate.semisup", "semi-supervised fine-tuning on a labelled fraction"),
    "supervised": ("ifnd.evaluate.supervised", "the supervised reference: the same backbone trained with all labels"),
    "rawpixels": ("ifnd.evaluate.rawpixels", "the raw-pixel reference: kNN and linear evaluation on input pixels"),
    "detect-floor": ("ifnd.evaluate.detectfloor",
                     "the detection floors: the detector's clustering on raw pixels and a random-init encoder"),
    "detect": ("ifnd.detect", "the detection study: score detection settings on a run's saved encoders"),
    "tables": ("ifnd.report.tables", "build Tables 1-4 from run and evaluation outputs"),
    "figures": ("ifnd.report.figures", "draw Figures 1-6 from run and evaluation outputs"),
    "report": ("ifnd.report.report", "write results/report.md from the tables and figures"),
    "budget": ("ifnd.report.budget", "the budget study's figure: IFND's share of the oracle gain against the budget"),
    "compare": ("ifnd.report.compare",
                "two experiments of one design compared seed by seed (another precision or CPU kind)"),
    "dvc-yaml": ("ifnd.dvcyaml", "write dvc.yaml, the DVC stages of the pipeline the Snakemake workflow runs"),
    "imagenet-subset": ("ifnd.data.imagenet",
                        "link an ImageNet-100 tree (CMC's 100 classes) into a folder of your ImageNet tree"),
    "export": ("ifnd.export", "write a run's backbone as a torchvision ResNet state dict"),
}


def _load(name: str):
    return importlib.import_module(COMMANDS[name][0])


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ifnd",
        description="Incremental False Negative Detection for contrastive learning: "
        "pretraining, evaluation and reports.",
    )
    parser.add_argument("--version", action="version", version=f"ifnd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<step>")
    sub.required = True
    for name, (module, help_text) in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=help_text)
            continue
        mod = importlib.import_module(module)
        doc = (mod.__doc__ or help_text).strip()
        p = sub.add_parser(name, help=help_text, description=doc,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    only = argv[0] if argv and argv[0] in COMMANDS else None
    parser = build_parser(only if only else "__none__")
    args = parser.parse_args(argv)
    try:
        result = _load(args.command).run(args)
    except UserError as exc:
        print(f"ifnd {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ifnd {args.command}: interrupted; finished checkpoints are kept", file=sys.stderr)
        return 130
    except OSError as exc:  # a file-system fault outside the atomic writers (those raise UserError)
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"ifnd {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    return int(result or 0)


def entry() -> None:
    """The console script. It exits normally: an earlier workaround left through ``os._exit``
    to skip a crash in oneDNN's primitive-cache destructor at exit; that crash was heap damage
    from the strided 1x1 backward-weights bug (uxlfoundation/oneDNN#6035), which the ResNet
    shortcut no longer reaches (models.SubsampleConv1x1), and it has not recurred since."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
