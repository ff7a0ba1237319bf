"""Seeded random generators shared by the native-vs-reference tests (failures reproduce)."""

from __future__ import annotations

import json
import random

# Printable ASCII without '"' and '\\': the checkpoint key alphabet.
KEY_CHARS = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in '"\\')
TEXT_POOL = [
    "",
    "a",
    "é",
    "☃",
    "😀",
    "日本",
    "\n",
    "\t",
    "\x01",
    "\x7f",
    '"',
    "\\",
    "/",
    " ",
    "\u2028",
]


def random_text(rng: random.Random, max_parts: int = 6) -> str:
    return "".join(rng.choice(TEXT_POOL) for _ in range(rng.randrange(max_parts)))


def random_json(rng: random.Random, depth: int = 0) -> str:
    """One JSON document (compact or with interior whitespace), unicode escaped or not."""
    kind = rng.randrange(7 if depth < 4 else 5)
    if kind == 0:
        return rng.choice(["null", "true", "false"])
    if kind == 1:
        return str(rng.choice([0, -1, 7, 2**53 + 1, -(2**70), rng.randrange(-(10**12), 10**12)]))
    if kind == 2:
        return json.dumps(rng.uniform(-1e9, 1e9))
    if kind in (3, 4):
        return json.dumps(random_text(rng), ensure_ascii=rng.random() < 0.5)
    sep = rng.choice([",", ", ", " ,\n "])
    items = [random_json(rng, depth + 1) for _ in range(rng.randrange(5))]
    if kind == 5:
        return "[" + sep.join(items) + "]"
    keys = [json.dumps(random_text(rng, 3)) for _ in items]
    return "{" + sep.join(f"{k}:{v}" for k, v in zip(keys, items, strict=True)) + "}"


def random_key(rng: random.Random) -> str:
    return "".join(rng.choice(KEY_CHARS) for _ in range(rng.randrange(1, 40)))
