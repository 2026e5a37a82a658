"""Captions of world objects: one canonical caption per object, a few unambiguous phrasings of it, and the parser
mapping any of them (with an optional view suffix) back to the object."""

from __future__ import annotations

import functools
import itertools
import re

from ..data.views import VIEW_NAMES, ViewRule, view_suffix
from .objects import COMPOSITES, WorldObject, all_objects

# Other nouns and size words meaning exactly the same thing inside this world.
SHAPE_SYNONYMS = {"cube": "box", "sphere": "ball", "torus": "ring", "capsule": "pill"}
SIZE_SYNONYMS = {"small": "little", "large": "big"}
ARTICLES = ("a", "an", "the")
_VIEW_SUFFIX = re.compile(r",?\s*(" + "|".join(VIEW_NAMES) + r") view$")


def _with_article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _words(*words: str) -> str:
    return " ".join(w for w in words if w)


def _marker_phrase(obj: WorldObject) -> str:
    marker = obj.front_marker
    return "" if marker is None else "with " + _with_article(f"{marker.color_name} {marker.name}")


def canonical_caption(obj: WorldObject) -> str:
    """Canonical caption: "a small tall blue cylinder", "a dumbbell", "a snowman with an orange nose"."""
    if obj.shape in COMPOSITES:
        return _with_article(_words(obj.shape, _marker_phrase(obj)))
    return _with_article(_words(obj.size, obj.proportion, obj.color_name, obj.shape))


def caption_variants(obj: WorldObject) -> list[str]:
    """The canonical caption first, then other phrasings that name this object and no other."""
    variants = [canonical_caption(obj)]
    if obj.shape in COMPOSITES:
        marker = obj.front_marker
        if marker is not None:
            variants += [_with_article(f"{obj.shape} with {_with_article(marker.name)}"), _with_article(obj.shape)]
        return variants
    sizes = [obj.size] + ([SIZE_SYNONYMS[obj.size]] if obj.size in SIZE_SYNONYMS else [])
    nouns = [obj.shape] + ([SHAPE_SYNONYMS[obj.shape]] if obj.shape in SHAPE_SYNONYMS else [])
    for size, noun in itertools.product(sizes, nouns):
        variants.append(_with_article(_words(size, obj.proportion, obj.color_name, noun)))
        variants.append(_with_article(_words(size, obj.proportion, noun, "that is", obj.color_name)))
    return list(dict.fromkeys(variants))


def all_captions() -> list[str]:
    """Canonical captions of every object of the world, in ``all_objects()`` order."""
    return [canonical_caption(obj) for obj in all_objects()]


def _normalize(text: str) -> str:
    """Lower case, single spaces, no trailing period, no view suffix, no leading article."""
    text = " ".join(text.lower().split()).rstrip(". ")
    text = _VIEW_SUFFIX.sub("", text).strip(" ,")
    first, _, rest = text.partition(" ")
    return rest if first in ARTICLES else text


@functools.cache
def _phrasebook() -> dict[str, WorldObject]:
    book: dict[str, WorldObject] = {}
    for obj in all_objects():
        for variant in caption_variants(obj):
            key = _normalize(variant)
            if book.setdefault(key, obj) != obj:
                raise AssertionError(f"caption {variant!r} names two objects")
    return book


@functools.cache
def _vocabulary() -> frozenset[str]:
    return frozenset(word for key in _phrasebook() for word in key.split()) | frozenset(ARTICLES)


def object_from_caption(text: str) -> WorldObject:
    """The object a caption (canonical or variant, any case and spacing, optional ", side view") names.

    Raises ValueError naming the unknown words, or saying that known words describe no object of the world."""
    key = _normalize(text)
    found = _phrasebook().get(key)
    if found is not None:
        return found
    unknown = [word for word in key.split() if word not in _vocabulary()]
    if unknown:
        raise ValueError(f"unknown word(s) {', '.join(map(repr, unknown))} in caption {text!r}")
    raise ValueError(f"caption {text!r} describes no object of the world (e.g. {all_captions()[0]!r})")


def caption_with_view(caption: str, elevation: float, azimuth: float, rule: ViewRule | None = None) -> str:
    """The caption with the view suffix of a camera at (elevation, azimuth) degrees, e.g. "a red cube, side view"."""
    name = (rule or ViewRule()).names(elevation, azimuth)[0]
    return caption + view_suffix(name)
