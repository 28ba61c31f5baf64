"""Synthetic species for the benchmarks: many plausible names, inserted in bulk, then indexed."""
import os
import random
import uuid

from sqlalchemy import func, insert, select

from app.core.models import utcnow
from app.extensions import db
from app.species import search_index
from app.species.models import LIGHT_LEVELS, WATERING_LEVELS, Species, SpeciesCommonName

_SYLLABLES = ("an", "bel", "cor", "dra", "el", "fi", "gan", "hos", "ix", "jun", "ka", "lo", "mon", "ner",
              "o", "phi", "qua", "ros", "sal", "tri", "um", "ver", "wis", "xan", "yu", "zel", "ca", "den",
              "ste", "ria", "lia", "to", "ma", "pe", "ra", "si")
_WORDS = ("leaf", "fern", "lily", "palm", "ivy", "rose", "vine", "daisy", "moss", "grass", "bell", "star",
          "heart", "silver", "golden", "dwarf", "giant", "creeping", "climbing", "red", "blue", "wild")
_FAMILIES = ("Araceae", "Asparagaceae", "Rosaceae", "Lamiaceae", "Asteraceae", "Cactaceae", "Orchidaceae",
             "Poaceae", "Fabaceae", "Moraceae", "Begoniaceae", "Ericaceae", "Solanaceae", "Piperaceae")


def _latin(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(parts))


def seed_bench_species(count: int | None = None, batch: int = 5000) -> str:
    """Add synthetic species until there are `count` (BENCH_SPECIES, default 2,000) in all."""
    count = count or int(os.environ.get("BENCH_SPECIES", "2000"))
    have = db.session.scalar(select(func.count()).select_from(Species))
    rng = random.Random(42 + have)
    made, taken = 0, set(db.session.scalars(select(Species.scientific_name)))
    now = utcnow()
    while have + made < count:
        rows, names = [], []
        while len(rows) < min(batch, count - have - made):
            genus = _latin(rng, rng.randint(2, 3)).capitalize()
            name = f"{genus} {_latin(rng, rng.randint(2, 4))}"
            if name in taken:
                continue
            taken.add(name)
            sid = uuid.uuid4()
            common = f"{rng.choice(_WORDS)} {rng.choice(_WORDS)} {genus.lower()}"
            rows.append(dict(
                id=sid, scientific_name=name, slug=name.lower().replace(" ", "-"), synonyms=[],
                family=rng.choice(_FAMILIES), genus=genus, rank="species", edible_parts=[], propagation=[],
                description=f"A {rng.choice(_WORDS)} plant with {rng.choice(_WORDS)} leaves, "
                            f"often grown beside {rng.choice(_WORDS)} {rng.choice(_WORDS)} in gardens.",
                light=rng.choice(LIGHT_LEVELS), watering=rng.choice(WATERING_LEVELS),
                toxic_to_pets=rng.random() < 0.3, indoor=rng.random() < 0.5, outdoor=True,
                identification_count=rng.randint(0, 500), verified=False, locked_fields=[],
                created_at=now, updated_at=now))
            names.append(dict(id=uuid.uuid4(), species_id=sid, name=common, lang="en", position=0))
        db.session.execute(insert(Species), rows)
        db.session.execute(insert(SpeciesCommonName), names)
        search_index.reindex(db.session, [r["id"] for r in rows])
        db.session.commit()
        made += len(rows)
    return f"{made} synthetic species added ({have + made} in all)"
