"""Laying out the AI care guide: the shapes a model answers in, and the ones it drifts into."""
from app.species.care import CareGuide, Section, care_guide


def test_sections_come_in_a_gardeners_order_with_unexpected_ones_after():
    guide = care_guide({"toxicity": "Toxic to cats", "overview": "Easy.", "mulch": "Bark in spring",
                        "water": {"frequency": "Weekly", "amount": "Until it drains"},
                        "difficulty_level": "easy", "common_problems": ["Aphids", "Rot"]})
    assert guide.overview == "Easy."
    assert guide.sections == (
        Section("Difficulty", text="easy"),
        Section("Water", parts=(("Frequency", "Weekly"), ("Amount", "Until it drains"))),
        Section("Common problems", items=("Aphids", "Rot")),
        Section("Toxicity", text="Toxic to cats"),
        Section("Mulch", text="Bark in spring"),
    )


def test_values_of_other_shapes_and_empty_sections_are_left_out():
    guide = care_guide({"water": {"frequency": {"summer": "often"}, "amount": " ", "method": True},
                        "light": "", "soil": None, "common_problems": [None, {"a": 1}, "", 3],
                        "temperature": {"minimum": 10}, "humidity": [], 7: "not a key"})
    assert guide.sections == (Section("Temperature", parts=(("Minimum", "10"),)),
                              Section("Common problems", items=("3",)))
    assert guide.overview == ""


def test_nothing_to_show_is_a_false_guide():
    for care_text in (None, "text", [], {}, {"overview": " ", "water": {}}):
        assert not care_guide(care_text)
    assert care_guide({"overview": "Easy."}) == CareGuide("Easy.", ())
