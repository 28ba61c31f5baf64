"""Species shared by the catalogue and identification: one row per normalised name, counted."""
from app.extensions import db
from app.species import service
from app.species.models import SpeciesDailyCount


def test_get_or_create_species_normalises_and_reuses(app_ctx):
    first = service.get_or_create_species("Monstera deliciosa Liebm.", family="Araceae",
                                          common_names=["Swiss cheese plant"])
    again = service.get_or_create_species("monstera  DELICIOSA")
    assert first.id == again.id
    assert first.scientific_name == "Monstera deliciosa" and first.slug == "monstera-deliciosa"
    assert first.genus == "Monstera" and first.common_name == "Swiss cheese plant"


def test_record_identification_counts_total_and_today(app_ctx):
    species = service.get_or_create_species("Ficus lyrata")
    service.record_identification(species.id)
    service.record_identification(species.id)
    db.session.refresh(species)
    assert species.identification_count == 2
    assert db.session.query(SpeciesDailyCount).one().count == 2
