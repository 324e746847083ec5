"""gpt-4o's second route (Llama 3.3 70B for text needing tools or JSON mode), once, for installations
seeded before seed_models created it (gateway/catalog/seed.py SECOND_ROUTES).

It is added only while gpt-4o's chat routes are exactly the seeded vision route on the seeded
provider, so an operator's remap stays as it is; seed_models itself adds the route only on a fresh
install, so deleting it afterwards sticks. The fields are copied, not imported: a migration must
keep doing what it did when the seed table changes. Reversing deletes the route while it is still
as created here.
"""

from django.db import migrations

PROVIDER = "workers-ai"
PUBLIC_NAME, TASK = "gpt-4o", "chat"
VISION_MODEL = "@cf/meta/llama-3.2-11b-vision-instruct"
TEXT_ROUTE = {
    "upstream_model": "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
    "context_window": 24_000,
    "max_output_tokens": None,
    "supports_tools": True,
    "supports_vision": False,
    "supports_json_mode": True,
    "reasoning": False,
    "output_dimensions": None,
    "priority": 1,
    "enabled": True,
    "cache_ttl_seconds": None,
}


def add_text_route(apps, schema_editor):
    Provider = apps.get_model("gateway", "Provider")
    ModelRoute = apps.get_model("gateway", "ModelRoute")
    provider = Provider.objects.filter(name=PROVIDER).first()
    if provider is None:  # not seeded yet: seed_models will create both routes
        return
    routes = ModelRoute.objects.filter(public_name=PUBLIC_NAME, task=TASK)
    as_seeded = [(VISION_MODEL, provider.pk, 0)]
    if list(routes.values_list("upstream_model", "provider_id", "priority")) != as_seeded:
        return
    ModelRoute.objects.create(public_name=PUBLIC_NAME, task=TASK, provider=provider, **TEXT_ROUTE)


def remove_text_route(apps, schema_editor):
    ModelRoute = apps.get_model("gateway", "ModelRoute")
    ModelRoute.objects.filter(public_name=PUBLIC_NAME, task=TASK, provider__name=PROVIDER, **TEXT_ROUTE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0010_encrypt_provider_tokens"),
    ]

    operations = [
        migrations.RunPython(add_text_route, remove_text_route),
    ]
