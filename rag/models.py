"""RAG storage: documents and their embedded chunks, in Postgres with pgvector.

One `rag_chunk` table holds the chunks of every embedding model. Models differ in dimensions
(bge-small 384, bge-base 768, bge-large 1024), so `embedding` is a `vector` without a fixed
dimension and `dimensions` records each row's length. An HNSW index needs a fixed dimension, so
there is one partial expression index per supported dimension, as pgvector's README suggests
("Can I store vectors with different dimensions in the same column?",
https://github.com/pgvector/pgvector#can-i-store-vectors-with-different-dimensions-in-the-same-column):

    CREATE INDEX … USING hnsw ((embedding::vector(768)) vector_cosine_ops) WHERE dimensions = 768

A query uses it when it orders by `embedding::vector(768) <=> q::vector(768)` and its WHERE has
`dimensions = 768` (rag/search.py writes exactly that). Supporting another dimension means adding
it to SUPPORTED_DIMENSIONS and a migration for its index; the store refuses any other length.
These indexes are created by RunSQL in the migration, not declared here: Django renders an operator
class on an expression index only with django.contrib.postgres installed (its OpClass wrapper).

Chunks carry a copy of their document's owner, namespace and metadata, so a search filters on
`rag_chunk` alone, with no join: a btree on (owner, namespace), and a GIN index with
`jsonb_path_ops` on `metadata`, which serves containment filters `metadata @> '{"k": "v"}'`
(https://www.postgresql.org/docs/current/datatype-json.html#JSON-INDEXING). `search_vector` is a
stored generated column, `to_tsvector('english', text)`, with a GIN index for the full-text half
of hybrid search (https://www.postgresql.org/docs/current/textsearch-tables.html).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from pgvector.django import VectorField

# Each has an HNSW index in rag/migrations/0002_documents_chunks.py.
SUPPORTED_DIMENSIONS = (384, 768, 1024)
DEFAULT_NAMESPACE = "default"


def hnsw_index_name(dimensions: int) -> str:
    return f"rag_chunk_embedding_{dimensions}_hnsw"


class Document(models.Model):
    """One client document (the original project's `metadata.docId`), under an owner and namespace."""

    class Status(models.TextChoices):
        PROCESSING = "processing"
        READY = "ready"
        FAILED = "failed"

    # db_index=False: the unique (owner, namespace, external_id) index serves owner lookups.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rag_documents", db_index=False
    )
    namespace = models.CharField(max_length=100, default=DEFAULT_NAMESPACE)
    external_id = models.CharField(max_length=200, help_text="The client's document id.")
    title = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    source_hash = models.CharField(max_length=64, help_text="SHA-256 (hex) of the source text.")
    embedding_model = models.CharField(max_length=200, help_text="The upstream model, e.g. @cf/baai/bge-base-en-v1.5.")
    dimensions = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.READY)
    error = models.TextField(blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "namespace", "external_id"], name="rag_document_owner_ns_ext"),
        ]
        indexes = [
            models.Index(fields=["owner", "namespace", "-updated_at"], name="rag_document_listing"),
        ]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.external_id}"


class Chunk(models.Model):
    """One embedded piece of a document; owner, namespace and metadata copied from it (see above)."""

    # db_index=False: the unique (document, index) index serves the foreign key.
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks", db_index=False)
    index = models.PositiveIntegerField()
    text = models.TextField()
    token_estimate = models.PositiveIntegerField()
    embedding = VectorField()
    dimensions = models.PositiveSmallIntegerField()
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    namespace = models.CharField(max_length=100)
    metadata = models.JSONField(default=dict)
    search_vector = models.GeneratedField(
        expression=SearchVector("text", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["document", "index"], name="rag_chunk_document_index"),
        ]
        indexes = [
            models.Index(fields=["owner", "namespace"], name="rag_chunk_owner_ns"),
            GinIndex(fields=["metadata"], opclasses=["jsonb_path_ops"], name="rag_chunk_metadata"),
            GinIndex(fields=["search_vector"], name="rag_chunk_search_vector"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.index}"


# OpenAI's Files and Vector Stores, on the documents and chunks above.
from rag.vector_store_models import STORE_PREFIX, FileBatch, StoredFile, VectorStore, VectorStoreFile  # noqa: E402, F401
