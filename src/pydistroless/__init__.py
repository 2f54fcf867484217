"""pydistroless: minimal Python container images from signed Debian archives."""

import functools
import hashlib
from pathlib import Path

__version__ = "0.1.0"


@functools.cache
def code_digest() -> str:
    """A digest of this installation's own code. Build caches are keyed on it, so a changed
    rule (a slice, a default package) never serves an image made under the old one."""
    digest = hashlib.sha256(__version__.encode())
    root = Path(__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
