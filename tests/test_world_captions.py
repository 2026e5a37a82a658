"""Captions of the world: canonical captions, variants, parsing back, view suffixes."""

import pytest

from threestudio_lite.data.views import ViewRule
from threestudio_lite.world import (
    COLORS,
    COMPOSITES,
    SIMPLE_SHAPES,
    SIZES,
    all_captions,
    all_objects,
    canonical_caption,
    caption_variants,
    caption_with_view,
    composite_object,
    object_from_caption,
    simple_object,
)


def test_every_object_has_a_distinct_canonical_caption():
    captions = all_captions()
    objects = all_objects()
    assert len(captions) == len(set(captions)) == len(objects)
    n_forms = sum(len(forms) for forms in SIMPLE_SHAPES.values())
    assert len(objects) == n_forms * len(COLORS) * len(SIZES) + len(COMPOSITES)


def test_canonical_captions_read_naturally():
    assert canonical_caption(simple_object("cube", "red")) == "a red cube"
    assert canonical_caption(simple_object("torus", "blue", "small")) == "a small blue torus"
    assert canonical_caption(simple_object("cube", "orange", "large")) == "a large orange cube"
    assert canonical_caption(simple_object("cylinder", "orange", "", "tall")) == "a tall orange cylinder"
    assert canonical_caption(simple_object("cube", "orange")) == "an orange cube"
    assert canonical_caption(composite_object("snowman")) == "a snowman with an orange nose"
    assert canonical_caption(composite_object("mug")) == "a mug with a red handle"
    assert canonical_caption(composite_object("house")) == "a house with a red door"
    assert canonical_caption(composite_object("dumbbell")) == "a dumbbell"


def test_every_caption_and_variant_parses_back_to_its_object():
    n_variants = 0
    for obj in all_objects():
        variants = caption_variants(obj)
        assert variants[0] == canonical_caption(obj)
        for text in variants:
            assert object_from_caption(text) == obj, text
            n_variants += 1
    assert n_variants > 2 * len(all_objects())


@pytest.mark.parametrize(
    "text, expected",
    [
        ("  A   Red CUBE , side view ", simple_object("cube", "red")),
        ("a red cube, front view", simple_object("cube", "red")),
        ("a big blue ball, overhead view", simple_object("sphere", "blue", "large")),
        ("A small cube that is red.", simple_object("cube", "red", "small")),
        ("red cube", simple_object("cube", "red")),
        ("the snowman, back view", composite_object("snowman")),
        ("a mug with a handle", composite_object("mug")),
        ("a flat green cylinder", simple_object("cylinder", "green", "", "flat")),
    ],
)
def test_parsing_tolerates_case_spacing_articles_and_view_suffixes(text, expected):
    assert object_from_caption(text) == expected


def test_unknown_words_are_named_in_the_error():
    with pytest.raises(ValueError, match="'vermilion'"):
        object_from_caption("a vermilion cube")
    with pytest.raises(ValueError, match="'hat'.*'wizard'|'wizard'.*'hat'"):
        object_from_caption("a wizard cube with a hat")


def test_known_words_that_name_no_object_are_rejected():
    for text in ("a tall red sphere", "a red snowman", "a cube cube", ""):
        with pytest.raises(ValueError):
            object_from_caption(text)


def test_caption_with_view_follows_the_shared_view_rule():
    assert caption_with_view("a red cube", 10.0, 20.0) == "a red cube, front view"
    assert caption_with_view("a red cube", 10.0, 90.0) == "a red cube, side view"
    assert caption_with_view("a red cube", 10.0, -170.0) == "a red cube, back view"
    assert caption_with_view("a red cube", 70.0, 0.0) == "a red cube, overhead view"
    assert caption_with_view("a red cube", 0.0, 30.0, ViewRule(front_half_width=20.0)) == "a red cube, side view"
    with_view = caption_with_view("a snowman with an orange nose", 10.0, 180.0)
    assert object_from_caption(with_view) == composite_object("snowman")
