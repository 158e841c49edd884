"""Channels-last and channels-first give the same gradients for our models.

oneDNN's strided 1x1 backward-weights kernel is wrong for channels-last inputs narrower than its
channel block (uxlfoundation/oneDNN#6035); our shortcut avoids it (models.SubsampleConv1x1).
These tests compare every weight gradient and the input gradient, so a silently wrong gradient
fails them, not only a crash. Each comparison also runs in a subprocess capped at AVX2
(ONEDNN_MAX_CPU_ISA), whose kernel has the 8-channel block, so any machine checks both paths,
and at one thread (how the workflow's jobs run) as well as two.

The comparison runs the models with SiLU in place of ReLU. With ReLU, an activation that lands
within rounding distance of zero takes a different side of the kink in the two memory formats
(their summation orders differ), which zeroes or passes that element's whole gradient: one such
element of 65,536 moved the input gradient of the 16-wide model by 10% at one thread. That is a
property of the kink, not a wrong kernel (the same flips separate fp32 from fp64 at the default
model's shape); the smooth activation keeps the convolutions and their memory formats the same
and leaves only the kernels' rounding.
"""

import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F

from ifnd.models import SubsampleConv1x1, build_model

# (arch, width, image side): narrow widths below both kernels' blocks (8 and 16) included.
CASES = [("resnet_small", 4, 16), ("resnet_small", 8, 16), ("resnet_small", 16, 16),
         ("resnet18", 4, 32), ("resnet50", 4, 32)]
RTOL = 1e-4   # fp32, different summation orders; the bug gives errors of 10-30%


def model_cfg(arch: str, width: int) -> dict:
    return {"model": {"arch": arch, "width": width, "cifar_stem": True, "proj_hidden": 32,
                      "proj_dim": 16}}


def _silu(input, inplace=False):
    return F.silu(input)


def gradients(arch: str, width: int, size: int, channels_last: bool, dtype=torch.float32,
              threads: int = 2) -> dict:
    """Every weight gradient and the input gradient of one forward and backward pass, with
    SiLU for ReLU (see the module's docstring) and ``threads`` intra-op threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(F, "relu", _silu)
            return _gradients(arch, width, size, channels_last, dtype)
    finally:
        torch.set_num_threads(before)


def _gradients(arch: str, width: int, size: int, channels_last: bool, dtype) -> dict:
    torch.manual_seed(0)
    model = build_model(model_cfg(arch, width), in_channels=3).to(dtype)
    if arch != "resnet_small":
        # 8 or 16 blocks of training-mode BatchNorm at width 4 are too ill-conditioned for fp32
        # to agree with itself (7-9% from fp64); with running statistics they are not.
        model.eval()
    x = torch.randn(32, 3, size, size, generator=torch.Generator().manual_seed(1)).to(dtype)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    z = model(x)
    target = torch.randn(z.shape, generator=torch.Generator().manual_seed(2)).to(dtype)
    (z * target).sum().backward()
    grads = {name: p.grad.detach().float() for name, p in model.named_parameters()}
    grads["input"] = x.grad.detach().float()
    return grads


def worst_relative_difference(arch: str, width: int, size: int, threads: int = 2) -> tuple[float, str]:
    a = gradients(arch, width, size, False, threads=threads)
    b = gradients(arch, width, size, True, threads=threads)
    worst, where = 0.0, ""
    for name in a:
        err = ((a[name] - b[name]).abs().max() / a[name].abs().max().clamp_min(1e-12)).item()
        if err > worst:
            worst, where = err, name
    return worst, where


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("arch,width,size", CASES)
def test_channels_last_gradients_match_channels_first(arch, width, size, threads):
    worst, where = worst_relative_difference(arch, width, size, threads)
    assert worst < RTOL, f"{arch} width {width}, {threads} threads: {where} gradient differs by {worst:.2%}"


def test_the_comparison_runs_silu_and_restores_relu_and_threads():
    threads = torch.get_num_threads()
    model = build_model(model_cfg("resnet_small", 4), in_channels=3)
    x = torch.tensor([-1.0, 2.0])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(F, "relu", _silu)
        assert torch.allclose(model.backbone.stem[2](x.clone()), F.silu(x))
    gradients("resnet_small", 4, 8, False, threads=1)
    assert F.relu(x).tolist() == [0.0, 2.0] and torch.get_num_threads() == threads


def test_channels_last_gradients_match_under_the_avx2_kernels():
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_channels_last import CASES, worst_relative_difference
        for case in CASES:
            for threads in (1, 2):
                worst, where = worst_relative_difference(*case, threads)
                print(case, threads, where, worst)
            assert worst < {RTOL}, (case, where, worst)
    """)
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "OMP_NUM_THREADS": "2"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]


def test_subsample_conv_is_the_strided_convolution():
    torch.manual_seed(0)
    conv = SubsampleConv1x1(4, 8, stride=2)
    for side in (7, 8):  # odd sides: the last row and column are kept, as a strided conv does
        x = torch.randn(3, 4, side, side, requires_grad=True)
        ref_x = x.detach().clone().requires_grad_(True)
        weight = conv.weight.detach().clone().requires_grad_(True)
        out, ref = conv(x), F.conv2d(ref_x, weight, stride=2)
        assert out.shape == ref.shape
        torch.testing.assert_close(out, ref)
        g = torch.randn(ref.shape)
        conv.weight.grad = None
        out.backward(g)
        ref.backward(g)
        torch.testing.assert_close(conv.weight.grad, weight.grad)
        torch.testing.assert_close(x.grad, ref_x.grad)


def test_shortcut_keeps_the_checkpoint_keys():
    keys = set(build_model(model_cfg("resnet_small", 4), 1).state_dict())
    assert "backbone.stages.1.0.shortcut.0.weight" in keys
    assert "backbone.stages.1.0.shortcut.1.running_mean" in keys
