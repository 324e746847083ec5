# ApiKey: per-model limits and token/cost quotas (README "Limits and quotas").

import gateway.models
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0002_response_cache"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="model_limits",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text='Per public model, counted apart from the key-wide limits: {"gpt-4": {"rpm": 10, "tpm": 10000}}.',
                validators=[gateway.models.validate_model_limits],
            ),
        ),
        migrations.AddField(
            model_name="apikey",
            name="quota_period",
            field=models.CharField(
                choices=[("day", "Day (UTC)"), ("month", "Month (UTC)")], default="month", max_length=8
            ),
        ),
        migrations.AddField(
            model_name="apikey",
            name="quota_tokens",
            field=models.PositiveBigIntegerField(
                blank=True, help_text="Token budget per quota period; blank: none.", null=True
            ),
        ),
        migrations.AddField(
            model_name="apikey",
            name="quota_usd",
            field=models.DecimalField(
                blank=True, decimal_places=4, help_text="Cost budget (USD) per quota period.", max_digits=12, null=True
            ),
        ),
    ]
