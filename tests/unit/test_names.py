"""Scientific-name normalisation and slugs."""
import pytest

from app.species.names import normalise_scientific_name, slugify_name


@pytest.mark.parametrize("raw, expected", [
    ("Monstera deliciosa Liebm.", "Monstera deliciosa"),
    ("Ficus lyrata Warb.", "Ficus lyrata"),
    ("Ficus elastica Roxb. ex Hornem.", "Ficus elastica"),
    ("Epipremnum aureum (Linden & André) G.S.Bunting", "Epipremnum aureum"),
    ("Aloe vera (L.) Burm.f.", "Aloe vera"),
    ("Hedera helix L.", "Hedera helix"),
    ("Taraxacum officinale F.H.Wigg.", "Taraxacum officinale"),
    ("Sansevieria trifasciata Prain", "Sansevieria trifasciata"),
    ("Monstera adansonii Schott", "Monstera adansonii"),
    ("Ficus benjamina L. f.", "Ficus benjamina"),
])
def test_normalise_strips_authorship(raw, expected):
    assert normalise_scientific_name(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("  monstera   DELICIOSA ", "Monstera deliciosa"),
    ("MONSTERA DELICIOSA LIEBM.", "Monstera deliciosa"),
    ("monstera\tdeliciosa\n", "Monstera deliciosa"),
    ("Monstera\u00a0deliciosa", "Monstera deliciosa"),
])
def test_normalise_fixes_case_and_whitespace(raw, expected):
    assert normalise_scientific_name(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("Mentha × piperita L.", "Mentha × piperita"),
    ("Mentha ×piperita", "Mentha × piperita"),
    ("Mentha x piperita", "Mentha × piperita"),
    ("× Fatshedera lizei (Cochet) Guillaumin", "× Fatshedera lizei"),
    ("×Fatshedera lizei", "× Fatshedera lizei"),
])
def test_normalise_keeps_hybrid_sign(raw, expected):
    assert normalise_scientific_name(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("Monstera deliciosa var. borsigiana (K.Koch) Engl.", "Monstera deliciosa var. borsigiana"),
    ("Hedera helix subsp. hibernica (G.Kirchn.) D.C.McClint.", "Hedera helix subsp. hibernica"),
    ("Hedera helix ssp. hibernica", "Hedera helix subsp. hibernica"),
    ("Brassica oleracea L. var. capitata L.", "Brassica oleracea var. capitata"),
    ("Acer palmatum f. atropurpureum (Van Houtte) Schwer.", "Acer palmatum f. atropurpureum"),
    ("Monstera deliciosa 'Thai Constellation'", "Monstera deliciosa 'Thai Constellation'"),
    ("Monstera deliciosa ‘Thai  Constellation’", "Monstera deliciosa 'Thai Constellation'"),
])
def test_normalise_keeps_infraspecific_ranks_and_cultivars(raw, expected):
    assert normalise_scientific_name(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("Rosa L.", "Rosa"),
    ("Monstera", "Monstera"),
    ("Monstera sp.", "Monstera"),
    ("Symphyotrichum novae-angliae (L.) G.L.Nesom", "Symphyotrichum novae-angliae"),
    ("", ""),
    ("   ", ""),
])
def test_normalise_handles_genus_only_hyphens_and_empty(raw, expected):
    assert normalise_scientific_name(raw) == expected


def test_normalise_is_idempotent():
    once = normalise_scientific_name("Brassica oleracea L. var. capitata L.")
    assert normalise_scientific_name(once) == once


@pytest.mark.parametrize("raw, expected", [
    ("Monstera deliciosa", "monstera-deliciosa"),
    ("Mentha × piperita", "mentha-x-piperita"),
    ("Monstera deliciosa var. borsigiana", "monstera-deliciosa-var-borsigiana"),
    ("Monstera deliciosa 'Thai Constellation'", "monstera-deliciosa-thai-constellation"),
    ("Aloë vera", "aloe-vera"),
    ("  Swiss cheese plant! ", "swiss-cheese-plant"),
    ("", ""),
])
def test_slugify_name(raw, expected):
    assert slugify_name(raw) == expected
