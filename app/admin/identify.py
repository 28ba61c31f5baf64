"""Admin views for identification: the identifications table and the provider status panel."""
from datetime import datetime, timezone

from flask import g
from flask_admin import BaseView, expose

from app.admin.views import AdminAccessMixin, SecureModelView
from app.core.redis import get_redis
from app.extensions import db
from app.identify import service
from app.identify.metrics import PROVIDERS
from app.identify.models import Identification
from app.providers.breaker import CircuitBreaker
from app.providers.stats import provider_status


class IdentificationView(SecureModelView):
    can_create = False
    can_edit = True
    can_delete = True
    column_list = ("created_at", "status", "confidence", "partial", "is_public", "demo", "from_cache",
                   "attempts", "owner_id", "error")
    column_filters = ("status", "partial", "is_public", "created_at", "confidence")
    column_default_sort = ("created_at", True)
    column_formatters = {"confidence": lambda view, context, model, name: _percent(model.confidence)}
    column_formatters_detail = column_formatters
    form_columns = ("is_public",)
    column_details_exclude_list = ("session_key",)

    # A deleted identification's photos go too, unless another one shares them (service.forget_photos).
    def on_model_delete(self, model: Identification) -> None:
        g.setdefault("forget_photos", []).extend((i.storage_key, i.thumbnail_key) for i in model.images)

    def after_model_delete(self, model: Identification) -> None:
        service.forget_photos(g.pop("forget_photos", []))


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


class ProviderStatusView(AdminAccessMixin, BaseView):
    @expose("/")
    def index(self):
        redis = get_redis()
        rows = [provider_status(redis, name, CircuitBreaker(redis, name).state) for name in PROVIDERS]
        for row in rows:
            at = row["last_error_at"]
            row["last_error_time"] = datetime.fromtimestamp(at, timezone.utc) if at is not None else None
        return self.render("admin/identify_status.html", providers=rows, cache=service.cache_stats(),
                           configured=service.configured_providers())


def register(admin) -> None:
    """Add the identification views to the admin panel."""
    admin.add_view(IdentificationView(Identification, db, name="Identifications", endpoint="admin_identifications",
                                      category="Identify"))
    admin.add_view(ProviderStatusView(name="Provider status", endpoint="admin_provider_status", category="Identify"))
