"""Admin views for species: search, filters, inline names and images, lock toggles, re-enrich."""
from flask import flash
from flask_admin.actions import action
from flask_admin.model.form import InlineFormAdmin
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, widgets

from app.admin.views import SecureModelView
from app.core import messages
from app.extensions import db
from app.species import service
from app.species.models import (DIFFICULTIES, ENRICHABLE_FIELDS, HUMIDITY_LEVELS, LIGHT_LEVELS, WATERING_LEVELS,
                                Species, SpeciesCommonName, SpeciesImage)


class AdminForm(FlaskForm):
    """FlaskForm that remembers the edited object, as Flask-Admin's Unique validator expects."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._obj = kwargs.get("obj")


class CheckboxesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class CommonNameInline(InlineFormAdmin):
    form_base_class = FlaskForm
    form_columns = ("id", "name", "lang", "position")


class ImageInline(InlineFormAdmin):
    form_base_class = FlaskForm
    form_columns = ("id", "url", "attribution", "license", "source", "position")


def _choices(values):
    return [("", "—"), *((v, v.replace("_", " ").capitalize()) for v in values)]


class SpeciesView(SecureModelView):
    form_base_class = AdminForm
    column_list = ("scientific_name", "family", "genus", "identification_count", "verified", "enriched_at")
    column_searchable_list = ("scientific_name", "slug", "family", "genus")
    column_filters = ("family", "genus", "verified", "light", "watering", "indoor", "outdoor", "toxic_to_pets",
                      "identification_count")
    column_default_sort = "scientific_name"
    form_excluded_columns = ("locked_fields", "identification_count", "enriched_at", "created_at", "updated_at")
    form_choices = {"light": _choices(LIGHT_LEVELS), "watering": _choices(WATERING_LEVELS),
                    "humidity": _choices(HUMIDITY_LEVELS), "difficulty": _choices(DIFFICULTIES)}
    form_extra_fields = {
        "locked": CheckboxesField("Locked against enrichment",
                                  choices=[(f, f.replace("_", " ")) for f in ENRICHABLE_FIELDS]),
    }
    inline_models = (CommonNameInline(SpeciesCommonName), ImageInline(SpeciesImage))

    def on_form_prefill(self, form, id):
        form.locked.data = list(self.get_one(id).locked_fields or [])

    def on_model_change(self, form, model, is_created):
        model.locked_fields = [f for f in ENRICHABLE_FIELDS if f in (form.locked.data or [])]
        for value_field in ("light", "watering", "humidity", "difficulty"):
            if getattr(model, value_field) == "":
                setattr(model, value_field, None)

    @action("reenrich", "Re-enrich now", "Ask Trefle and OpenAI again for the selected species?")
    def action_reenrich(self, ids):
        queued = 0
        for species_id in ids:
            species = self.get_one(species_id)
            if species:
                service.queue_enrichment(species.id, refresh=True)
                queued += 1
        flash(messages.SPECIES_ENRICH_QUEUED.format(count=queued), "success")


def register(admin) -> None:
    """Add the species views to the admin panel."""
    admin.add_view(SpeciesView(Species, db, name="Species", endpoint="admin_species"))
