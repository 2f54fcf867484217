"""Parse a few URLs and print them back: a small app whose lock is a PEP 751 pylock.toml."""

import idna
from rich.console import Console

console = Console(force_terminal=False, width=80)
for host in ("bücher.example", "straße.example"):
    console.print(f"{host} -> {idna.encode(host).decode()}")
