"""Species shared by the catalogue and identification: one row per normalised name, counted."""
from sqlalchemy import inspect

from app.core.models import utcnow
from app.extensions import db
from app.species import service
from app.species.models import Species, SpeciesDailyCount
from tests.factories import count_identifications
from tests.forum_helpers import QueryCounter


def test_get_or_create_species_normalises_and_reuses(app_ctx):
    first = service.get_or_create_species("Monstera deliciosa Liebm.", family="Araceae",
                                          common_names=["Swiss cheese plant"])
    again = service.get_or_create_species("monstera  DELICIOSA")
    assert first.id == again.id
    assert first.scientific_name == "Monstera deliciosa" and first.slug == "monstera-deliciosa"
    assert first.genus == "Monstera" and first.common_name == "Swiss cheese plant"


def test_identification_counts_add_to_total_and_today(app_ctx):
    species = service.get_or_create_species("Ficus lyrata")
    count_identifications(species.id)
    count_identifications(species.id)
    db.session.refresh(species)
    assert species.identification_count == 2
    assert db.session.query(SpeciesDailyCount).one().count == 2


def test_species_for_reuses_known_and_adds_missing_in_order(app_ctx):
    known_id = service.get_or_create_species("Ficus lyrata").id
    db.session.expunge_all()
    found = service.species_for([service.SpeciesFacts("Monstera deliciosa Liebm.", family="Araceae",
                                                      common_names=("Swiss cheese plant",)),
                                 service.SpeciesFacts("ficus  LYRATA"), service.SpeciesFacts("")],
                                also_load=(Species.care_text,))
    # A known species comes back with only its name and the columns asked for loaded.
    assert inspect(found[1]).unloaded >= {"family", "description"}
    assert "care_text" not in inspect(found[1]).unloaded and found[2] is None
    db.session.commit()
    added = service.find_species("Monstera deliciosa")
    assert [s.id for s in found[:2]] == [added.id, known_id]
    assert added.family == "Araceae" and added.common_name == "Swiss cheese plant"


def test_species_for_looks_up_only_the_names_not_loaded_before(app_ctx):
    lyrata = service.get_or_create_species("Ficus lyrata")
    elastica = service.get_or_create_species("Ficus elastica")
    db.session.commit()
    loaded = service.species_named(["ficus LYRATA Warb.", "Ficus nobody"], also_load=(Species.care_text,))
    assert list(loaded) == ["Ficus lyrata"] and loaded["Ficus lyrata"].id == lyrata.id
    with QueryCounter(db.engine) as queries:
        everything = service.species_for([service.SpeciesFacts("Ficus lyrata")], loaded=loaded)
        one_more = service.species_for([service.SpeciesFacts("Ficus lyrata"), service.SpeciesFacts("Ficus elastica")],
                                       loaded=loaded)
    selects = [parameters for _, statement, parameters in queries.statements if statement.startswith("SELECT")]
    assert everything == [loaded["Ficus lyrata"]] and [s.id for s in one_more] == [lyrata.id, elastica.id]
    # One query, for the name not loaded before.
    assert len(selects) == 1 and "Ficus elastica" in str(selects[0]) and "Ficus lyrata" not in str(selects[0])


def test_identification_counts_are_undone_with_the_callers_transaction(app_ctx):
    species = service.get_or_create_species("Ficus lyrata")
    service.add_identification_counts({(species.id, utcnow().date()): 1})
    db.session.rollback()
    db.session.refresh(species)
    assert species.identification_count == 0
    assert db.session.query(SpeciesDailyCount).count() == 0
