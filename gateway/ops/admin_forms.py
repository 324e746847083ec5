"""The admin's forms for API keys and providers.

The key's form offers allowed models and per-model limits as choices, stored as before:
`allowed_models` stays a JSON list of public model names and `model_limits` a JSON object
`{"gpt-4": {"rpm": 10, "tpm": 10000}}` (gateway/access/auth.py reads both). The provider's form
takes its token write-only: the stored token (encrypted, gateway/encryption.py) is never sent back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django import forms
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.core.exceptions import ValidationError
from django.utils.datastructures import MultiValueDict
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from gateway.encryption import UnreadableSecret
from gateway.models import ApiKey, ModelRoute, Provider

# A row is what the browser sent for one line of the table: model, RPM and TPM as text.
Row = tuple[str, str, str]

BLANK_ROWS = 2  # empty lines offered below the key's own limits
LIMITS = ("rpm", "tpm")


def public_model_names() -> list[str]:
    """Every public model name some route serves, sorted (enabled or not: a key may name a model
    before its route is switched on)."""
    names = ModelRoute.objects.order_by().values_list("public_name", flat=True).distinct()
    return sorted(set(names))


def _choices(names: Iterable[str]) -> list[tuple[str, str]]:
    return [(name, name) for name in names]


class ModelChooser(FilteredSelectMultiple):
    """Django's searchable two-box chooser, in a box of its own: its script builds the boxes at the
    front of the widget's parent, which would otherwise be the row, before the field's label."""

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        return format_html('<div class="model-chooser">{}</div>', super().render(name, value, attrs, renderer))


class ModelLimitsWidget(forms.Widget):
    """A table of rows (model, RPM, TPM); posts `<name>-<i>-model|rpm|tpm` and `<name>-rows`."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.names: list[str] = []

    def value_from_datadict(self, data: Mapping[str, Any], files: MultiValueDict, name: str) -> list[Row] | None:
        try:
            count = min(int(data.get(f"{name}-rows", "")), 1000)
        except ValueError:
            return None  # the table was not on the page: nothing posted, the field keeps its value
        return [_row_of(data, f"{name}-{i}") for i in range(count)]

    def value_omitted_from_data(self, data: Mapping[str, Any], files: MultiValueDict, name: str) -> bool:
        return f"{name}-rows" not in data

    def id_for_label(self, id_: str) -> str:
        return ""  # no single control to point at: each input of the table carries its own aria-label

    @staticmethod
    def rows_of(value: object) -> list[Row]:
        if isinstance(value, list):  # a bound form shown again: what was posted
            return [(str(row[0]), str(row[1]), str(row[2])) for row in value]
        if isinstance(value, dict):  # the stored object
            rows = []
            for model, limits in value.items():
                limits = limits if isinstance(limits, dict) else {}
                rows.append((str(model), _text(limits.get("rpm")), _text(limits.get("tpm"))))
            return rows
        return []

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        rows = [row for row in self.rows_of(value) if any(row)]
        rows += [("", "", "")] * BLANK_ROWS
        body = format_html_join("", "{}", ((self._row(name, i, row),) for i, row in enumerate(rows)))
        return format_html(
            '<table class="model-limits"><thead><tr><th>Model</th><th>RPM limit</th><th>TPM limit</th></tr>'
            '</thead><tbody>{}</tbody></table><input type="hidden" name="{}-rows" value="{}">',
            body,
            name,
            len(rows),
        )

    def _row(self, name: str, i: int, row: Row) -> SafeString:
        model, rpm, tpm = row
        names = self.names if not model or model in self.names else [model, *self.names]
        options = format_html_join(
            "", '<option value="{}"{}>{}</option>', ((n, " selected" if n == model else "", n) for n in names)
        )
        number = (
            '<input type="number" min="1" step="1" name="{}-{}-{}" value="{}" aria-label="{} {}" class="vIntegerField">'
        )
        return format_html(
            '<tr><td><select name="{}-{}-model" aria-label="Model {}"><option value="">—</option>{}</select></td>'
            "<td>{}</td><td>{}</td></tr>",
            name,
            i,
            i + 1,
            options,
            format_html(number, name, i, "rpm", rpm, "RPM limit", i + 1),
            format_html(number, name, i, "tpm", tpm, "TPM limit", i + 1),
        )


def _text(number: object) -> str:
    return "" if number is None else str(number)


def _row_of(data: Mapping[str, Any], prefix: str) -> Row:
    model, rpm, tpm = (str(data.get(f"{prefix}-{part}", "")).strip() for part in ("model", "rpm", "tpm"))
    return model, rpm, tpm


class ModelLimitsField(forms.Field):
    """Rows of (model, RPM, TPM) → `{"model": {"rpm": n, "tpm": n}}`, a limit left blank left out."""

    widget = ModelLimitsWidget

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.names: list[str] = []

    def set_names(self, names: list[str]) -> None:
        self.names = names
        self.widget.names = names  # type: ignore[attr-defined]

    def prepare_value(self, value: Any) -> Any:
        return value

    def to_python(self, value: Any) -> dict[str, dict[str, int]]:
        if isinstance(value, dict):
            return value
        limits: dict[str, dict[str, int]] = {}
        problems: list[str] = []
        for i, (model, *numbers) in enumerate(value or (), start=1):
            if not model and not any(numbers):
                continue
            if not model:
                problems.append(f"Row {i}: choose a model, or clear its limits.")
                continue
            if model not in self.names:
                problems.append(f"Row {i}: {model!r} is not a public model name of any route.")
                continue
            if model in limits:
                problems.append(f"Row {i}: {model} has limits in an earlier row already; keep one row per model.")
                continue
            row: dict[str, int] = {}
            for limit, text in zip(LIMITS, numbers, strict=True):
                if not text:
                    continue
                try:
                    number = int(text)
                except ValueError:
                    number = 0
                if number < 1:
                    problems.append(
                        f"Row {i}: the {limit.upper()} limit for {model} must be a whole number "
                        f"of 1 or more, not {text!r}."
                    )
                else:
                    row[limit] = number
            if not numbers[0] and not numbers[1]:
                problems.append(f"Row {i}: give {model} an RPM or a TPM limit, or clear its model.")
            limits[model] = row
        if problems:
            raise ValidationError(problems)
        return limits

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return (initial or {}) != self.to_python(data)
        except ValidationError:
            return True


class ApiKeyForm(forms.ModelForm):
    allowed_models = forms.MultipleChoiceField(
        required=False,
        label=ApiKey._meta.get_field("allowed_models").verbose_name.capitalize(),
        help_text="None chosen: every model is allowed.",
        widget=ModelChooser("models", is_stacked=False),
    )
    model_limits = ModelLimitsField(
        label="Per-model limits",
        help_text="Counted apart from the key-wide limits; both must admit a request. "
        "A blank RPM or TPM means no limit of that kind for the model.",
    )

    class Meta:
        model = ApiKey
        fields = [
            "name",
            "owner",
            "allowed_models",
            "rpm_limit",
            "tpm_limit",
            "model_limits",
            "quota_tokens",
            "quota_usd",
            "quota_period",
            "expires_at",
            "revoked_at",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = public_model_names()
        # A name the key already holds stays a choice after its route is gone, so the key still saves.
        held = [*(self.instance.allowed_models or ()), *(self.instance.model_limits or {})]
        names = sorted(set(names) | {name for name in held if isinstance(name, str)})
        self.fields["allowed_models"].choices = _choices(names)  # type: ignore[attr-defined]
        self.fields["model_limits"].set_names(names)  # type: ignore[attr-defined]

    def clean_allowed_models(self) -> list[str]:
        return list(self.cleaned_data.get("allowed_models") or [])


KIND_HELP = (
    "Cloudflare Workers AI: the account's Workers AI REST API. "
    "OpenAI-compatible: any server speaking OpenAI's API (OpenAI itself, vLLM, Ollama, …)."
)
BASE_URL_HELP = (
    "Workers AI: blank uses CLOUDFLARE_API_BASE_URL from the environment. "
    "OpenAI-compatible: required, the part before /chat/completions, e.g. https://api.openai.com/v1. "
    "Changing its scheme, host or port clears the stored API token, unless a different token is entered "
    "in the same save."
)


class ProviderForm(forms.ModelForm):
    base_url = forms.URLField(label="Base URL", required=False, assume_scheme="https", help_text=BASE_URL_HELP)
    # Write-only: never rendered back, not even encrypted. "new-password" keeps browsers from
    # filling in the operator's own saved admin password
    # (https://developer.mozilla.org/en-US/docs/Web/HTML/Attributes/autocomplete#new-password).
    api_token = forms.CharField(
        label="API token",
        required=False,
        max_length=512,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    clear_api_token = forms.BooleanField(required=False, label="Clear the stored API token")

    class Meta:
        model = Provider
        fields = [
            "name",
            "kind",
            "base_url",
            "account_id",
            "api_token_env",
            "api_token",
            "connect_timeout",
            "read_timeout",
            "extra_headers",
            "enabled",
        ]
        widgets = {"extra_headers": forms.Textarea(attrs={"rows": 3, "cols": 60})}
        help_texts = {
            "kind": KIND_HELP,
            "account_id": "Workers AI: the Cloudflare account; blank uses CLOUDFLARE_ACCOUNT_ID from the environment.",
            "extra_headers": "A JSON object of header names to values, sent with every upstream call, e.g. "
            '{"OpenAI-Organization": "org-…"}. Blank: none.',
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial["api_token"] = ""  # a blank field then counts as unchanged, in the form and its history
        stored = self.instance.api_token
        if isinstance(stored, UnreadableSecret):
            state = (
                "A token is stored but cannot be decrypted with GATEWAY_SECRETS_KEY or its fallbacks: "
                "enter it again, or clear it."
            )
        elif stored:
            state = "A token is stored (encrypted). Leave blank to keep it."
        else:
            state = "None is stored."
        self.fields["api_token"].help_text = f"{state} Used when the variable above is unset."

    def clean_extra_headers(self) -> Any:
        # A cleared box means no headers; the column holds an object, never null.
        headers = self.cleaned_data.get("extra_headers")
        return {} if headers in (None, "") else headers

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("clear_api_token"):
            if cleaned.get("api_token"):
                self.add_error("api_token", "Enter a new token or clear the stored one, not both.")
            cleaned["api_token"] = ""
        elif not cleaned.get("api_token"):
            # Blank keeps what is stored, even a token this process's key cannot open.
            cleaned["api_token"] = self.instance.api_token
        return cleaned
