"""Merging provider suggestions into one ranked list."""
import json

import pytest

from app.identify.merge import MergedSuggestion, merge_suggestions
from app.providers.base import ProviderResult, Suggestion


def plantid(*suggestions):
    return ProviderResult("plantid", tuple(suggestions), latency_ms=10.0)


def plantnet(*suggestions):
    return ProviderResult("plantnet", tuple(suggestions), latency_ms=12.0, quota_remaining=480)


def s(provider, name, probability, **extra):
    return Suggestion(provider=provider, scientific_name=name, probability=probability, **extra)


def by_name(merged):
    return {m.scientific_name: m for m in merged}


def test_merge_agreement_averages_scores_and_ranks_first():
    merged = merge_suggestions([
        plantid(s("plantid", "Monstera deliciosa", 0.9), s("plantid", "Monstera adansonii", 0.05)),
        plantnet(s("plantnet", "Monstera deliciosa", 0.8), s("plantnet", "Ficus lyrata", 0.1)),
    ])
    assert [m.scientific_name for m in merged] == ["Monstera deliciosa", "Ficus lyrata", "Monstera adansonii"]
    top = merged[0]
    assert top.confidence == pytest.approx(0.85)
    assert top.providers == ("plantid", "plantnet")
    assert top.scores == {"plantid": 0.9, "plantnet": 0.8}
    assert top.agreement == 2


def test_merge_counts_missing_answer_as_zero():
    merged = by_name(merge_suggestions([
        plantid(s("plantid", "Monstera deliciosa", 0.9)),
        plantnet(s("plantnet", "Ficus lyrata", 0.6)),
    ]))
    assert merged["Monstera deliciosa"].confidence == pytest.approx(0.45)
    assert merged["Ficus lyrata"].confidence == pytest.approx(0.30)
    assert merged["Ficus lyrata"].providers == ("plantnet",)


def test_merge_agreement_beats_one_strong_provider():
    merged = merge_suggestions([
        plantid(s("plantid", "Ficus lyrata", 0.7), s("plantid", "Ficus elastica", 0.25)),
        plantnet(s("plantnet", "Ficus elastica", 0.5)),
    ])
    assert merged[0].scientific_name == "Ficus elastica"
    assert merged[0].confidence == pytest.approx(0.375)


def test_merge_single_provider_keeps_its_probabilities():
    merged = merge_suggestions([plantnet(s("plantnet", "Hedera helix", 0.72))])
    assert merged[0].confidence == pytest.approx(0.72)


def test_merge_provider_with_no_match_still_counts_as_answered():
    merged = merge_suggestions([plantid(s("plantid", "Hedera helix", 0.8)), plantnet()])
    assert merged[0].confidence == pytest.approx(0.4)


def test_merge_strips_authorship_and_normalises_names():
    merged = merge_suggestions([
        plantid(s("plantid", "monstera  deliciosa", 0.9)),
        plantnet(s("plantnet", "Monstera deliciosa Liebm.", 0.8, authorship="Liebm.")),
    ])
    assert len(merged) == 1
    assert merged[0].scientific_name == "Monstera deliciosa"
    assert merged[0].authorship == "Liebm."


def test_merge_folds_reported_synonyms_into_accepted_name():
    merged = merge_suggestions([
        plantid(s("plantid", "Dracaena trifasciata", 0.8, synonyms=("Sansevieria trifasciata",))),
        plantnet(s("plantnet", "Sansevieria trifasciata", 0.7, authorship="Prain")),
    ])
    assert len(merged) == 1
    assert merged[0].scientific_name == "Dracaena trifasciata"
    assert merged[0].scores == {"plantid": 0.8, "plantnet": 0.7}
    assert merged[0].authorship is None  # Prain authored the synonym, not the accepted name


def test_merge_keeps_best_score_when_one_provider_names_a_species_twice():
    merged = merge_suggestions([plantid(s("plantid", "Aloe vera", 0.3), s("plantid", "Aloe vera (L.) Burm.f.", 0.6))])
    assert merged[0].scores == {"plantid": 0.6}


def test_merge_unions_common_names_images_and_ids_without_duplicates():
    merged = merge_suggestions([
        plantid(s("plantid", "Monstera deliciosa", 0.9, common_names=("Swiss cheese plant",),
                  images=("https://a/1.jpg",), external_ids=(("plantid", "abc"),), family="Araceae")),
        plantnet(s("plantnet", "Monstera deliciosa", 0.8, common_names=("swiss cheese plant", "Ceriman"),
                   images=("https://a/1.jpg", "https://b/2.jpg"), external_ids=(("gbif", "2868241"),),
                   genus="Monstera")),
    ])[0]
    assert merged.common_names == ("Swiss cheese plant", "Ceriman")
    assert merged.images == ("https://a/1.jpg", "https://b/2.jpg")
    assert merged.external_ids == (("plantid", "abc"), ("gbif", "2868241"))
    assert (merged.family, merged.genus) == ("Araceae", "Monstera")


def test_merge_derives_genus_from_name_when_no_provider_gave_it():
    merged = merge_suggestions([plantid(s("plantid", "Ficus lyrata", 0.9))])
    assert merged[0].genus == "Ficus"


def test_merge_breaks_ties_deterministically():
    results = [plantid(s("plantid", "Bellis perennis", 0.4), s("plantid", "Aloe vera", 0.4))]
    assert [m.scientific_name for m in merge_suggestions(results)] == ["Aloe vera", "Bellis perennis"]
    assert [m.scientific_name for m in merge_suggestions(list(reversed(results)))] == ["Aloe vera", "Bellis perennis"]


def test_merge_without_results_is_empty():
    assert merge_suggestions([]) == []


def test_merged_suggestion_round_trips_through_json():
    original = merge_suggestions([
        plantid(s("plantid", "Monstera deliciosa", 0.9, common_names=("Swiss cheese plant",),
                  external_ids=(("plantid", "abc"),))),
        plantnet(s("plantnet", "Monstera deliciosa Liebm.", 0.8, authorship="Liebm.")),
    ])[0]
    stored = json.loads(json.dumps(original.to_dict()))
    assert MergedSuggestion.from_dict(stored) == original
