"""WorkersAIProvider against the Workers AI emulator: reading the model catalogue."""

from __future__ import annotations

from workers_ai_helpers import (
    ACCOUNT,
    LLAMA,
    QWQ,
    VISION,
    emu_fixture,  # noqa: F401
    provider_emulator_fixture,  # noqa: F401
    provider_for,
    raised_by,
)

from gateway.testing.emulator import WorkersAIEmulator

# --- catalogue -----------------------------------------------------------------------------------


def test_list_models_reads_the_whole_catalogue(emu: WorkersAIEmulator) -> None:
    models = {m.name: m for m in provider_for(emu).list_models()}
    assert [(r.path, r.query) for r in emu.requests] == [
        (f"/accounts/{ACCOUNT}/ai/models/search", {"page": "1", "per_page": "100"})
    ]
    llama = models[LLAMA]
    assert (llama.task, llama.context_window, llama.function_calling) == ("chat", 32000, True)
    assert llama.created == 1735689600  # "2025-01-01 00:00:00.000", UTC
    assert llama.description
    assert models[QWQ].reasoning and not llama.reasoning
    assert models[VISION].vision and models[VISION].task == "chat"
    assert models["@cf/llava-hf/llava-1.5-7b-hf"].task == "chat"
    assert models["@cf/llava-hf/llava-1.5-7b-hf"].vision
    assert models["@cf/baai/bge-base-en-v1.5"].task == "embedding"
    assert models["@cf/openai/whisper"].task == "transcription"
    assert models["@cf/myshell-ai/melotts"].task == "speech"
    assert models["@cf/black-forest-labs/flux-1-schnell"].task == "image"


def test_list_models_pages_through_everything(emu: WorkersAIEmulator) -> None:
    provider = provider_for(emu)
    everything = [m.name for m in provider.list_models()]
    emu.reset()
    provider.catalogue_page_size = 5
    paged = [m.name for m in provider.list_models()]
    assert paged == everything and len(set(paged)) == len(paged)
    pages = [r.query["page"] for r in emu.requests]
    assert pages == [str(n) for n in range(1, len(pages) + 1)]
    assert len(pages) == -(-len(everything) // 5)


def test_list_models_with_a_wrong_token_is_auth(emu: WorkersAIEmulator) -> None:
    error = raised_by(lambda: provider_for(emu, token="nope").list_models())
    assert error.kind == "auth"
