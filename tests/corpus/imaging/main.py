"""A chart rendered by matplotlib into a PNG file, then opened and measured with Pillow.

matplotlib needs a writable folder for its font cache (MPLCONFIGDIR) and the PNG goes to
OUTPUT: both on a tmpfs when the root file system is read-only."""

import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image, ImageFilter, ImageOps

output = os.environ.get("OUTPUT", "/tmp/chart.png")
x = np.linspace(0, 2 * np.pi, 200)
figure, axes = plt.subplots(figsize=(4, 3), dpi=100)
axes.plot(x, np.sin(x), label="sin")
axes.set_title("Über distroless")
axes.legend()
figure.savefig(output)
print(f"matplotlib {matplotlib.__version__} wrote {output}")

with Image.open(output) as image:
    print(f"pillow {image.format} {image.size[0]}x{image.size[1]} {image.mode}")
    gray = ImageOps.grayscale(image)
    print(f"pillow grey extrema {gray.getextrema()}")
    blurred = gray.filter(ImageFilter.GaussianBlur(2))
    print(f"pillow blurred extrema {blurred.getextrema()}")
    thumb = image.convert("RGB")
    thumb.thumbnail((64, 64))
    thumb.save(output.replace(".png", ".webp"), "WEBP")
    thumb.save(output.replace(".png", ".jpg"), "JPEG", quality=90)
for kind in ("webp", "jpg"):
    with Image.open(output.replace(".png", f".{kind}")) as small:
        print(f"pillow {small.format} {small.size[0]}x{small.size[1]} {small.mode}")
