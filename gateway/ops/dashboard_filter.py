"""What the usage dashboard is asked for: a range of UTC days and optional key and model filters.

`DashboardForm` reads the page's query string (missing fields fall back to the last 7 days);
`DashboardFilter` is the validated selection the queries in gateway.ops.dashboard run over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.core.validators import MaxValueValidator
from django.db.models import QuerySet

from gateway.models import ApiKey, UsageRecord, UsageRollup

DEFAULT_DAYS = 7
MAX_DAYS = 366
HOURLY_UP_TO = timedelta(days=2)


# A range ends at the midnight after its last day (DashboardFilter.for_days); 9999-12-31 has none
# that datetime can hold, so the form refuses it rather than overflowing into a 500.
LAST_DAY = date.max - timedelta(days=1)


class DashboardForm(forms.Form):
    """The date range (inclusive days, UTC) and the optional key and model filters."""

    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[MaxValueValidator(LAST_DAY, message="Choose an end date no later than %(limit_value)s.")],
    )
    key = forms.ModelChoiceField(queryset=ApiKey.objects.order_by("name"), required=False, empty_label="all keys")
    model = forms.ChoiceField(required=False)
    provider = forms.ChoiceField(required=False)

    def __init__(self, data: Any = None) -> None:
        today = datetime.now(UTC).date()
        initial = {"start": today - timedelta(days=DEFAULT_DAYS - 1), "end": today}
        # Missing fields fall back to the defaults, so a bare URL and a filtered one both validate.
        merged = {**{name: value.isoformat() for name, value in initial.items()}, **_present(data)}
        super().__init__(merged, initial=initial)
        models = UsageRecord.objects.exclude(public_model="").order_by().values_list("public_model", flat=True)
        rolled_up = UsageRollup.objects.exclude(public_model="").order_by().values_list("public_model", flat=True)
        choices = [("", "all models")] + [(name, name) for name in models.union(rolled_up).order_by("public_model")]
        self.fields["model"].choices = choices
        used = UsageRecord.objects.exclude(provider="").order_by().values_list("provider", flat=True)
        rolled_providers = UsageRollup.objects.exclude(provider="").order_by().values_list("provider", flat=True)
        providers = used.union(rolled_providers).order_by("provider")
        self.fields["provider"].choices = [("", "all providers")] + [(name, name) for name in providers]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            if start > end:
                raise forms.ValidationError("The start date is after the end date.")
            if (end - start).days + 1 > MAX_DAYS:
                raise forms.ValidationError(f"Choose at most {MAX_DAYS} days.")
        return cleaned

    def dashboard_filter(self) -> DashboardFilter:
        data = self.cleaned_data
        key: ApiKey | None = data.get("key")
        return DashboardFilter.for_days(
            data["start"], data["end"], key=key, model=data.get("model") or "", provider=data.get("provider") or ""
        )


def _present(data: Any) -> dict[str, str]:
    if data is None:
        return {}
    return {name: data.get(name) for name in ("start", "end", "key", "model", "provider") if data.get(name)}


@dataclass(frozen=True)
class DashboardFilter:
    start: datetime  # inclusive
    end: datetime  # exclusive
    key: ApiKey | None = None
    model: str = ""
    provider: str = ""  # the provider of the route that answered

    @classmethod
    def for_days(
        cls, first: date, last: date, *, key: ApiKey | None = None, model: str = "", provider: str = ""
    ) -> DashboardFilter:
        start = datetime.combine(first, time.min, tzinfo=UTC)
        end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)
        return cls(start=start, end=end, key=key, model=model, provider=provider)

    @property
    def bucket(self) -> str:
        return "hour" if self.end - self.start <= HOURLY_UP_TO else "day"

    @property
    def step(self) -> timedelta:
        return timedelta(hours=1) if self.bucket == "hour" else timedelta(days=1)

    def buckets(self) -> list[datetime]:
        moments, moment = [], self.start
        while moment < self.end:
            moments.append(moment)
            moment += self.step
        return moments

    def records(self) -> QuerySet[UsageRecord]:
        records = UsageRecord.objects.filter(created_at__gte=self.start, created_at__lt=self.end)
        if self.key is not None:
            records = records.filter(api_key=self.key)
        if self.model:
            records = records.filter(public_model=self.model)
        if self.provider:
            records = records.filter(provider=self.provider)
        return records

    def rollups(self) -> QuerySet[UsageRollup]:
        """The roll-ups of the range's days (its bounds are whole UTC days), without Meta's order."""
        rollups = UsageRollup.objects.filter(day__gte=self.start.date(), day__lt=self.end.date()).order_by()
        if self.key is not None:
            rollups = rollups.filter(api_key=self.key)
        if self.model:
            rollups = rollups.filter(public_model=self.model)
        if self.provider:
            rollups = rollups.filter(provider=self.provider)
        return rollups

    def query_string(self) -> str:
        from urllib.parse import urlencode

        params = {"start": self.start.date().isoformat(), "end": (self.end - timedelta(days=1)).date().isoformat()}
        if self.key is not None:
            params["key"] = str(self.key.pk)
        if self.model:
            params["model"] = self.model
        if self.provider:
            params["provider"] = self.provider
        return urlencode(params)
