"""Documents and chunks, with the per-dimension HNSW, metadata, full-text and owner indexes (rag/models.py).

The HNSW indexes are partial expression indexes, one per supported dimension, as pgvector's README
suggests for a column of mixed dimensions
(https://github.com/pgvector/pgvector#can-i-store-vectors-with-different-dimensions-in-the-same-column).
m = 16 and ef_construction = 64 are pgvector's defaults ("HNSW", "Index Options"); `make bench-rag`
measures recall and latency with them (bench/results.md).
"""

from __future__ import annotations

import django.contrib.postgres.indexes
import django.contrib.postgres.search
import django.db.models.deletion
import pgvector.django.vector
from django.conf import settings
from django.db import migrations, models


HNSW_DIMENSIONS = (384, 768, 1024)


def hnsw_index(dimensions: int) -> migrations.RunSQL:
    name = f"rag_chunk_embedding_{dimensions}_hnsw"
    return migrations.RunSQL(
        f"CREATE INDEX {name} ON rag_chunk USING hnsw ((embedding::vector({dimensions})) vector_cosine_ops) "
        f"WITH (m = 16, ef_construction = 64) WHERE dimensions = {dimensions}",
        reverse_sql=f"DROP INDEX {name}",
    )


class Migration(migrations.Migration):

    dependencies = [
        ('rag', '0001_vector_extension'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Document',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('namespace', models.CharField(default='default', max_length=100)),
                ('external_id', models.CharField(help_text="The client's document id.", max_length=200)),
                ('title', models.CharField(blank=True, max_length=500)),
                ('metadata', models.JSONField(blank=True, default=dict)),
                ('source_hash', models.CharField(help_text='SHA-256 (hex) of the source text.', max_length=64)),
                ('embedding_model', models.CharField(help_text='The upstream model, e.g. @cf/baai/bge-base-en-v1.5.', max_length=200)),
                ('dimensions', models.PositiveSmallIntegerField(default=0)),
                ('status', models.CharField(choices=[('processing', 'Processing'), ('ready', 'Ready'), ('failed', 'Failed')], default='ready', max_length=16)),
                ('error', models.TextField(blank=True)),
                ('chunk_count', models.PositiveIntegerField(default=0)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('owner', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='rag_documents', to=settings.AUTH_USER_MODEL)),
            ],
        ),
        migrations.CreateModel(
            name='Chunk',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('index', models.PositiveIntegerField()),
                ('text', models.TextField()),
                ('token_estimate', models.PositiveIntegerField()),
                ('embedding', pgvector.django.vector.VectorField()),
                ('dimensions', models.PositiveSmallIntegerField()),
                ('namespace', models.CharField(max_length=100)),
                ('metadata', models.JSONField(default=dict)),
                ('search_vector', models.GeneratedField(db_persist=True, expression=django.contrib.postgres.search.SearchVector('text', config='english'), output_field=django.contrib.postgres.search.SearchVectorField())),
                ('owner', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('document', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='chunks', to='rag.document')),
            ],
        ),
        migrations.AddIndex(
            model_name='document',
            index=models.Index(fields=['owner', 'namespace', '-updated_at'], name='rag_document_listing'),
        ),
        migrations.AddConstraint(
            model_name='document',
            constraint=models.UniqueConstraint(fields=('owner', 'namespace', 'external_id'), name='rag_document_owner_ns_ext'),
        ),
        migrations.AddIndex(
            model_name='chunk',
            index=models.Index(fields=['owner', 'namespace'], name='rag_chunk_owner_ns'),
        ),
        migrations.AddIndex(
            model_name='chunk',
            index=django.contrib.postgres.indexes.GinIndex(fields=['metadata'], name='rag_chunk_metadata', opclasses=['jsonb_path_ops']),
        ),
        migrations.AddIndex(
            model_name='chunk',
            index=django.contrib.postgres.indexes.GinIndex(fields=['search_vector'], name='rag_chunk_search_vector'),
        ),
        migrations.AddConstraint(
            model_name='chunk',
            constraint=models.UniqueConstraint(fields=('document', 'index'), name='rag_chunk_document_index'),
        ),
        *(hnsw_index(dimensions) for dimensions in HNSW_DIMENSIONS),
    ]
