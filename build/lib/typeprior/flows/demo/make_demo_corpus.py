"""Write the demo corpus that `typeprior pipeline` trains on when no corpus is given.

The corpus is written for this project (no third-party text): template sentences filled with names, seeded, so the
same files come out every time. It mixes flat, nested (an organisation named after a place) and discontinuous
entities (coordinated place names such as "North and South Dakota", where "North ... Dakota" is one entity).
Run `python -m typeprior.flows.demo.make_demo_corpus` to regenerate train.jsonl and dev.jsonl beside this file.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

PEOPLE = ["Ada Lovelace", "Alan Turing", "Marie Curie", "Nelson Mandela", "Frida Kahlo", "Leo Tolstoy",
          "Grace Hopper", "Pablo Neruda", "Angela Merkel", "Kofi Annan", "Serena Williams", "Miles Davis"]
PLACES = ["Paris", "Kenya", "Oslo", "Peru", "Lisbon", "Canada", "Cairo", "Vienna", "Chile", "Nairobi",
          "Boston", "Japan"]
ORGS = ["Reuters", "Siemens", "UNESCO", "Nokia", "Oxfam", "Airbus", "FIFA", "Interpol"]
MISC = ["Olympics", "Nobel Prize", "Euro", "Ramadan", "Renaissance", "Tour de France"]
COMPASS_PAIRS = [("North", "South", "Dakota"), ("East", "West", "Sussex"), ("North", "South", "Korea"),
                 ("Upper", "Lower", "Austria")]
VERBS = ["visited", "praised", "left", "criticised", "joined", "described"]


def _words(name: str) -> list[str]:
    return name.split()


class _Builder:
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.entities: list[dict] = []

    def text(self, s: str) -> None:
        self.tokens += s.split()

    def ent(self, name: str, type_: str) -> list[int]:
        start = len(self.tokens)
        self.tokens += _words(name)
        idx = list(range(start, len(self.tokens)))
        self.entities.append({"indices": idx, "type": type_})
        return idx

    def done(self) -> dict:
        return {"tokens": self.tokens, "entities": self.entities}


def flat_sentence(rng: random.Random) -> dict:
    b = _Builder()
    b.ent(rng.choice(PEOPLE), "PER")
    b.text(rng.choice(VERBS))
    b.ent(rng.choice(PLACES), "LOC")
    b.text("before the")
    b.ent(rng.choice(MISC), "MISC")
    b.text(".")
    return b.done()


def org_sentence(rng: random.Random) -> dict:
    b = _Builder()
    b.ent(rng.choice(ORGS), "ORG")
    b.text("said")
    b.ent(rng.choice(PEOPLE), "PER")
    b.text("would open an office in")
    b.ent(rng.choice(PLACES), "LOC")
    b.text(".")
    return b.done()


def nested_sentence(rng: random.Random) -> dict:
    """An organisation whose name contains a place: both are entities (nested)."""
    b = _Builder()
    b.ent(rng.choice(PEOPLE), "PER")
    b.text("studied at the")
    start = len(b.tokens)
    b.text("University of")
    b.ent(rng.choice(PLACES), "LOC")
    b.entities.append({"indices": list(range(start, len(b.tokens))), "type": "ORG"})
    b.text(".")
    return b.done()


def discontinuous_sentence(rng: random.Random) -> dict:
    """Coordinated names share a head word: "North and South Dakota" holds "North Dakota" with a gap."""
    first, second, head = rng.choice(COMPASS_PAIRS)
    b = _Builder()
    b.ent(rng.choice(PEOPLE), "PER")
    b.text("toured")
    i = len(b.tokens)
    b.text(f"{first} and {second} {head}")
    b.entities.append({"indices": [i, i + 3], "type": "LOC"})
    b.entities.append({"indices": [i + 2, i + 3], "type": "LOC"})
    b.text("in the spring .")
    return b.done()


def make(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    makers = [flat_sentence, org_sentence, nested_sentence, discontinuous_sentence]
    return [makers[i % len(makers)](rng) | {"id": f"demo-{seed}-{i}"} for i in range(n)]


def main() -> None:
    here = Path(__file__).resolve().parent
    for name, n, seed in (("train", 160, 1), ("dev", 40, 2)):
        lines = [json.dumps(s) for s in make(n, seed)]
        (here / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
