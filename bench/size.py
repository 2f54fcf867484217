"""Image size: the default image against a Google-distroless equivalent built by pydistroless,
and what the cc variant (the C++ runtime and glibc whole, for what a Dockerfile copies in)
adds to it.

The equivalent is Google's python3-debian13 package set, unsliced and without .pyc:
`pydistroless build --no-pyc --keep <every slice> --package <each of Google's packages>`.
Sizes are the sum of the layer tars (uncompressed) and of the gzip layer blobs (compressed).
The cost of the layer split is the default image against the same file tree written as one
layer by the same layer writer.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from _common import (
    ALL_SLICES,
    build,
    default_cache_dir,
    google_equivalent,
    image_stats,
    mb,
    parser,
    report,
    scratch,
    verdict,
)

TARGET_UNCOMPRESSED = 45e6
TARGET_SPLIT_GROWTH = 0.01  # the split may add at most 1% to the compressed image
TARGET_COMPRESSED = 17e6
# Google's published gcr.io image, for comparison (not measured here: no registry is reached).
GOOGLE_REAL = {"uncompressed": 59.5e6, "compressed": 22.4e6}


def main() -> None:
    p = parser(__doc__, runs=None)
    p.add_argument("--cache-dir", type=Path, default=default_cache_dir(),
                   help="download cache (default: %(default)s)")
    args = p.parse_args()
    cache = args.cache_dir.expanduser()
    work = scratch()
    google_args, excluded = google_equivalent(cache)
    variants = {
        "pydistroless default": [],
        "pydistroless --keep stdlib-sources": ["--keep", "stdlib-sources"],
        "pydistroless --variant cc (C++ runtime, glibc whole)": ["--variant", "cc"],
        "Google-equivalent (our tool)": google_args,
    }
    stats = {}
    try:
        for i, (name, extra) in enumerate(variants.items()):
            out = work / f"{i}.tar"
            build(cache, out, *extra)
            stats[name] = image_stats(out)
            if i == 0:
                layers, one = single_layer(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ref = stats["Google-equivalent (our tool)"]
    rows = []
    for name, s in stats.items():
        rows.append([
            name, mb(s["uncompressed"]), mb(s["compressed"]), str(s["files"]),
            f"{s['uncompressed'] / ref['uncompressed']:.2f}",
            f"{s['compressed'] / ref['compressed']:.2f}",
        ])
    rows.append(["Google's published python3-debian13", mb(int(GOOGLE_REAL["uncompressed"])),
                 mb(int(GOOGLE_REAL["compressed"])), "", "", ""])
    ours = stats["pydistroless default"]
    growth = ours["compressed"] / one["compressed"] - 1
    rows.append([f"the default image's files as one layer (it has {layers})",
                 mb(one["uncompressed"]), mb(one["compressed"]), str(ours["files"]),
                 f"{one['uncompressed'] / ref['uncompressed']:.2f}",
                 f"{one['compressed'] / ref['compressed']:.2f}"])
    report(
        args,
        "Image size",
        ["image", "uncompressed MB", "compressed MB", "regular files",
         "x equiv. (uncompr.)", "x equiv. (compr.)"],
        rows,
        [
            f"Default image uncompressed: **{mb(ours['uncompressed'])} MB**, target <= 45 MB: "
            f"**{verdict(ours['uncompressed'] <= TARGET_UNCOMPRESSED)}**",
            f"Default image compressed: **{mb(ours['compressed'])} MB**, target <= 17 MB: "
            f"**{verdict(ours['compressed'] <= TARGET_COMPRESSED)}**",
            f"Growth from the layer split ({layers} layers against one): compressed "
            f"**{growth:+.3%}** ({ours['compressed'] - one['compressed']:+,} bytes), "
            f"uncompressed {ours['uncompressed'] / one['uncompressed'] - 1:+.3%}; target <= "
            f"+1%: **{verdict(growth <= TARGET_SPLIT_GROWTH)}**",
        ],
        notes=f"""
MB = 10^6 bytes. "uncompressed" is the sum of the uncompressed layer tars, "compressed" the
sum of the gzip layer blobs as written, "regular files" the regular files in the layers (not
directories, symlinks or hard links). The sizes are deterministic, so each image is built once.

The Google-equivalent is built as `pydistroless build --no-pyc --keep {ALL_SLICES}` with
one `--package` for each package of Google's python3-debian13 image (its base image's
packages included); packages that Debian's dependencies would add beyond Google's list
(found with `pydistroless lock`: {", ".join(excluded) or "none"}) are left out again with
`--exclude`, as Google's images install an explicit list. The last row is Google's published
image, as reported for it; the equivalent built here comes from the same archive snapshot as
ours, so the two differ by what pydistroless leaves out and adds, not by package versions.
""",
    )


def single_layer(tar: Path) -> tuple[int, dict[str, int]]:
    """The number of layers of the image in ``tar``, and the sizes of its file tree written
    as one layer, as the build writes each of its layers (gzip, its default level)."""
    from pydistroless.oci.archive import read_tar
    from pydistroless.oci.layer import layer_from_tree
    from pydistroless.oci.model import platform_image
    from pydistroless.oci.unpack import tree_of

    image = platform_image(read_tar(tar), None, where=str(tar))
    created = datetime.fromisoformat(str(image.config_json["created"]))
    layer = layer_from_tree(tree_of(image), mtime=int(created.timestamp()))
    assert layer.uncompressed_size is not None
    return len(image.layers), {"compressed": layer.size, "uncompressed": layer.uncompressed_size}


if __name__ == "__main__":
    main()
