"""Word-level tokenizer of the mini text prior, with a synonym table for paraphrases.

The vocabulary is every word of the world's captions and view suffixes. A word outside it is looked up
in the synonym table ("crimson" -> "red", "box" -> "cube"); a word that is neither is dropped and
reported, so the caller can warn that the prior cannot represent it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

PAD, EMPTY = "<pad>", "<empty>"

# Paraphrases of world words (the world's own variants, such as "box" or "ball", are already in the vocabulary).
SYNONYMS = {
    "crimson": "red", "scarlet": "red", "ruby": "red", "tangerine": "orange", "golden": "yellow", "lemon": "yellow",
    "emerald": "green", "lime": "green", "teal": "cyan", "turquoise": "cyan", "aqua": "cyan", "navy": "blue",
    "azure": "blue", "violet": "purple", "lilac": "purple", "magenta": "pink", "rose": "pink", "grey": "gray",
    "silver": "gray", "ivory": "white", "snowy": "white", "chocolate": "brown", "tan": "brown",
    "tiny": "small", "mini": "small", "huge": "large", "giant": "large", "block": "cube", "orb": "sphere",
    "donut": "torus", "doughnut": "torus", "tube": "cylinder", "snowmen": "snowman", "cup": "mug",
    "cabin": "house", "hut": "house", "carrot": "nose",
}


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


@dataclass
class WordTokenizer:
    vocab: list[str]
    max_length: int = 16
    synonyms: dict[str, str] = field(default_factory=lambda: dict(SYNONYMS))

    def __post_init__(self):
        self.index = {w: i for i, w in enumerate(self.vocab)}

    @classmethod
    def from_texts(cls, texts: list[str], max_length: int = 16) -> "WordTokenizer":
        words = sorted({w for t in texts for w in words_of(t)})
        return cls([PAD, EMPTY, *words], max_length)

    def unknown_words(self, text: str) -> list[str]:
        """Words of ``text`` that are neither in the vocabulary nor synonyms of vocabulary words."""
        return [w for w in words_of(text) if w not in self.index and self.synonyms.get(w) not in self.index]

    def ids(self, text: str) -> list[int]:
        ids = [self.index[self.synonyms.get(w, w)] for w in words_of(text) if self.synonyms.get(w, w) in self.index]
        return (ids or [self.index[EMPTY]])[: self.max_length]

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and attention mask, each (B, max_length)."""
        ids = torch.zeros(len(texts), self.max_length, dtype=torch.long)
        mask = torch.zeros(len(texts), self.max_length, dtype=torch.bool)
        for i, text in enumerate(texts):
            row = self.ids(text)
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = True
        return ids, mask

    def save_pretrained(self, folder: str | Path) -> None:
        from ...utils.io import write_text

        data = {"vocab": self.vocab, "max_length": self.max_length, "synonyms": self.synonyms}
        write_text(Path(folder) / "vocab.json", json.dumps(data, indent=1))

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "WordTokenizer":
        data = json.loads((Path(folder) / "vocab.json").read_text())
        return cls(data["vocab"], data["max_length"], data["synonyms"])
