"""An image folder of ImageNet-like sizes made from CIFAR-10 JPEGs, for measuring the
loader (docs/PERFORMANCE.md) and streamed runs.

    python3 scripts/make_large_folder.py CIFAR_JPEG_DIR OUT_DIR [--per-class N] [--seed S]

Takes the first N images of each class of CIFAR_JPEG_DIR/train/<class>/ and writes them
to OUT_DIR/train/<class>/ upscaled (bicubic) to a random width and height in 300..500 px,
JPEG quality 90 (ImageNet's training images average about 400 x 350). Needs Pillow.
"""

import argparse
import os
import random

from PIL import Image


def main():
    p = argparse.ArgumentParser()
    p.add_argument("src")
    p.add_argument("out")
    p.add_argument("--per-class", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    rng = random.Random(a.seed)
    train = os.path.join(a.src, "train")
    for c in sorted(os.listdir(train)):
        os.makedirs(os.path.join(a.out, "train", c), exist_ok=True)
        for f in sorted(os.listdir(os.path.join(train, c)))[: a.per_class]:
            img = Image.open(os.path.join(train, c, f)).convert("RGB")
            size = (rng.randrange(300, 500), rng.randrange(300, 500))
            img.resize(size, Image.BICUBIC).save(
                os.path.join(a.out, "train", c, f), quality=90
            )


if __name__ == "__main__":
    main()
