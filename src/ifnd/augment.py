"""SimCLR augmentations as batched tensor operations on the training device.

The whole batch is augmented at once: one affine grid per image does the random resized crop,
the horizontal flip and the resize in a single ``grid_sample``; colour jitter, grayscale and
blur are per-image random parameters applied as broadcast arithmetic. This is what keeps the
CPU busy with the model instead of with per-image Python transforms.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MEAN, STD = 0.5, 0.25  # one fixed normalisation for every dataset; BatchNorm follows anyway


def to_float(images: torch.Tensor, image_size: int) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float in [0, 1] at ``image_size``: pad smaller images with zeros
    (28 -> 32 for Fashion-MNIST keeps every pixel), resize larger ones."""
    x = images.float().div_(255.0)
    h, w = x.shape[-2:]
    if h < image_size or w < image_size:
        ph, pw = max(image_size - h, 0), max(image_size - w, 0)
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
    if x.shape[-1] != image_size or x.shape[-2] != image_size:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True,
                          align_corners=False)
    return x


def normalize(x: torch.Tensor) -> torch.Tensor:
    return (x - MEAN) / STD


def to_input(images: torch.Tensor, image_size: int) -> torch.Tensor:
    """The un-augmented model input for evaluation and the clustering pass."""
    return normalize(to_float(images, image_size))


def _uniform(n: int, lo: float, hi: float, gen: torch.Generator, device) -> torch.Tensor:
    return torch.rand(n, generator=gen, device=device) * (hi - lo) + lo


def _gray(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


class BatchedSimCLRAugment:
    """Random resized crop + flip, colour jitter, random grayscale and optional blur.

    Follows SimCLR's recipe (and torchvision's parameter conventions) with every image drawing
    its own parameters. Saturation, hue and grayscale apply to colour images only.
    """

    def __init__(self, aug_cfg: dict, image_size: int):
        self.cfg = aug_cfg
        self.size = image_size

    def crop_grid(self, n: int, gen: torch.Generator, device) -> torch.Tensor:
        lo, hi = self.cfg["crop_scale"]
        area = _uniform(n, lo, hi, gen, device)
        log_ratio = _uniform(n, math.log(3 / 4), math.log(4 / 3), gen, device)
        ratio = torch.exp(log_ratio)
        # crop width/height as fractions of the image side, clipped to the image
        cw = torch.sqrt(area * ratio).clamp(max=1.0)
        ch = torch.sqrt(area / ratio).clamp(max=1.0)
        cx = (torch.rand(n, generator=gen, device=device) * 2 - 1) * (1 - cw)
        cy = (torch.rand(n, generator=gen, device=device) * 2 - 1) * (1 - ch)
        sx = cw
        if self.cfg["flip"]:
            flip = torch.rand(n, generator=gen, device=device) < 0.5
            sx = torch.where(flip, -cw, cw)
        theta = torch.zeros(n, 2, 3, device=device)
        theta[:, 0, 0], theta[:, 0, 2] = sx, cx
        theta[:, 1, 1], theta[:, 1, 2] = ch, cy
        return F.affine_grid(theta, (n, 1, self.size, self.size), align_corners=False)

    def colour(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n, c, device, cfg = x.shape[0], x.shape[1], x.device, self.cfg
        shape = (n, 1, 1, 1)

        def factor(strength):
            return _uniform(n, max(0.0, 1 - strength), 1 + strength, gen, device).view(shape)

        apply = (torch.rand(n, generator=gen, device=device) < cfg["jitter_prob"]).view(shape)
        y = x * factor(cfg["brightness"])
        y = (y - _gray(y).mean((2, 3), keepdim=True)) * factor(cfg["contrast"]) \
            + _gray(y).mean((2, 3), keepdim=True)
        y = y.clamp(0, 1)
        if c == 3:
            g = _gray(y)
            y = ((y - g) * factor(cfg["saturation"]) + g).clamp(0, 1)
            if cfg["hue"] > 0:
                y = _rotate_hue(y, _uniform(n, -cfg["hue"], cfg["hue"], gen, device))
        x = torch.where(apply, y, x)
        if c == 3 and cfg["grayscale_prob"] > 0:
            gray = (torch.rand(n, generator=gen, device=device) < cfg["grayscale_prob"]).view(shape)
            x = torch.where(gray, _gray(x).expand_as(x), x)
        return x

    def blur(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if self.cfg["blur_prob"] <= 0:
            return x
        n, c, h, w = x.shape
        k = max(3, int(0.1 * self.size) // 2 * 2 + 1)
        sigma = _uniform(n, 0.1, 2.0, gen, x.device)
        sigma = torch.where(torch.rand(n, generator=gen, device=x.device) < self.cfg["blur_prob"],
                            sigma, torch.full_like(sigma, 1e-3))
        t = torch.arange(k, device=x.device, dtype=x.dtype) - k // 2
        kern = torch.exp(-(t.view(1, -1) ** 2) / (2 * sigma.view(-1, 1) ** 2))
        kern = (kern / kern.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (n*c, k)
        y = x.reshape(1, n * c, h, w)
        y = F.conv2d(F.pad(y, (k // 2, k // 2, 0, 0), mode="reflect"), kern.view(n * c, 1, 1, k), groups=n * c)
        y = F.conv2d(F.pad(y, (0, 0, k // 2, k // 2), mode="reflect"), kern.view(n * c, 1, k, 1), groups=n * c)
        return y.view(n, c, h, w)

    def __call__(self, images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """uint8 (B, C, H, W) on the device -> normalised float (B, C, S, S), one random view."""
        x = to_float(images, self.size)
        x = F.grid_sample(x, self.crop_grid(x.shape[0], gen, x.device), mode="bilinear",
                          padding_mode="reflection", align_corners=False)
        x = self.blur(self.colour(x, gen), gen)
        return normalize(x)


_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_FROM_YIQ = torch.linalg.inv(_TO_YIQ)


def _rotate_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate hue by ``shift`` turns (in [-0.5, 0.5]) in YIQ space: a cheap, batched stand-in
    for an HSV round trip."""
    angle = (shift * 2 * math.pi).view(-1, 1, 1)
    cos, sin = torch.cos(angle), torch.sin(angle)
    to_yiq, from_yiq = (m.to(x.device, x.dtype, non_blocking=True) for m in (_TO_YIQ, _FROM_YIQ))
    yiq = torch.einsum("ij,bjhw->bihw", to_yiq, x)
    i, q = yiq[:, 1], yiq[:, 2]
    yiq = torch.stack([yiq[:, 0], cos * i - sin * q, sin * i + cos * q], 1)
    return torch.einsum("ij,bjhw->bihw", from_yiq, yiq).clamp(0, 1)
