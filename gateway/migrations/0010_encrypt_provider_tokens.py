"""Provider tokens stored in plaintext become Fernet ciphertext (gateway/encryption.py); reversible.

The column first becomes plain text (room for the ciphertext), the rows are rewritten while the
field still reads and writes raw values, and only then does it become the encrypting field (no
change in the database: both are text).
"""

import django.core.validators
from cryptography.fernet import InvalidToken
from django.db import migrations, models

import gateway.encryption
from gateway.encryption import decrypt, encrypt, is_encrypted

HELP_TEXT = "Stored token (encrypted), used when the variable above is unset."


def encrypt_provider_tokens(apps, schema_editor):
    Provider = apps.get_model("gateway", "Provider")
    for pk, token in Provider.objects.exclude(api_token="").values_list("pk", "api_token"):
        if not is_encrypted(token):
            Provider.objects.filter(pk=pk).update(api_token=encrypt(token))


def decrypt_provider_tokens(apps, schema_editor):
    Provider = apps.get_model("gateway", "Provider")
    for pk, name, token in Provider.objects.exclude(api_token="").values_list("pk", "name", "api_token"):
        try:
            plaintext = decrypt(token)
        except InvalidToken:
            raise RuntimeError(
                f"Provider {name}: its stored API token cannot be decrypted with GATEWAY_SECRETS_KEY or "
                "its fallbacks. Restore that key, or clear the token, before migrating back."
            ) from None
        Provider.objects.filter(pk=pk).update(api_token=plaintext)


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0009_routing_and_attempts"),
    ]

    operations = [
        migrations.AlterField(
            model_name="provider",
            name="api_token",
            field=models.TextField(blank=True, help_text=HELP_TEXT),
        ),
        migrations.RunPython(encrypt_provider_tokens, decrypt_provider_tokens),
        migrations.AlterField(
            model_name="provider",
            name="api_token",
            field=gateway.encryption.EncryptedTokenField(
                blank=True,
                help_text=HELP_TEXT,
                validators=[django.core.validators.MaxLengthValidator(512)],
            ),
        ),
    ]
