"""RQ entry points of the species domain."""
import uuid

from app.species.enrichment import enrich_species


def enrich(species_id: str, refresh: bool = False) -> str | None:
    """Enrich one species from the providers (runs on the slow queue)."""
    species = enrich_species(uuid.UUID(species_id), refresh=refresh)
    return species.scientific_name if species else None
