"""Three small text files and a vector store holding them, made through the official SDK."""

from __future__ import annotations

from typing import Any

from openai import OpenAI

CATS = b"Cats sleep most of the day. A cat purrs when it is content and eats fish twice a day."
BIKES = b"A bicycle chain needs oil every few hundred kilometres. Check the tyre pressure weekly."
TEA = b"Green tea is brewed at eighty degrees for two minutes. Black tea wants boiling water."


def upload_three(client: OpenAI) -> dict[str, str]:
    """name → file id, for cats.txt, bikes.txt and tea.txt."""
    files = {"cats": CATS, "bikes": BIKES, "tea": TEA}
    return {
        name: client.files.create(file=(f"{name}.txt", data, "text/plain"), purpose="assistants").id
        for name, data in files.items()
    }


def fill_store(client: OpenAI, files: dict[str, str], **fields: Any) -> Any:
    """A store with the three files, their attributes a topic and a year; embedded (polled)."""
    store = client.vector_stores.create(**fields)
    batch = client.vector_stores.file_batches.create_and_poll(
        vector_store_id=store.id,
        files=[
            {"file_id": files["cats"], "attributes": {"topic": "pets", "year": 2024}},
            {"file_id": files["bikes"], "attributes": {"topic": "repair", "year": 2022}},
            {"file_id": files["tea"], "attributes": {"topic": "kitchen", "year": 2025}},
        ],
    )
    assert batch.status == "completed" and batch.file_counts.completed == 3, batch
    return store
