"""Token-array inputs, decoded back to text with the tokenizer the client used.

OpenAI's embeddings endpoint takes `input` as token ids too, and LangChain's OpenAIEmbeddings sends
it that way by default (it splits long texts with tiktoken first). The ids are of OpenAI's
tokenizer for the public model name (cl100k_base for the text-embedding-* models), not of the
upstream model, so they are turned back into the text they encode, which any upstream can embed.
The tokenizer data comes with the `bpe-openai` package, so nothing is downloaded at run time.
A name with no OpenAI tokenizer (a raw `@cf/…` name, say) cannot take token ids.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from gateway.errors import invalid


@functools.cache
def _encoding(model: str) -> Any | None:
    # Imported on first use: the tokenizers cost each process ~60 MB, and only token ids need them.
    import bpe_openai

    try:
        return bpe_openai.get_encoding(bpe_openai.encoding_name_for_model(model))
    except (bpe_openai.UnsupportedModelError, KeyError, ValueError):
        return None


def decode_inputs(model: str, arrays: Sequence[Sequence[int]], single: bool) -> tuple[str, ...]:
    encoding = _encoding(model)
    if encoding is None:
        raise invalid(
            f"Token arrays are not accepted for `{model}`: the gateway knows no tokenizer for that name. "
            "Send the text instead.",
            param="input",
            code="token_input_not_supported",
        )
    texts = []
    for index, tokens in enumerate(arrays):
        where = "input" if single else f"input[{index}]"
        try:
            texts.append(encoding.decode(list(tokens)))
        except Exception as exc:  # an id the tokenizer lacks raises KeyError; any failure means bad ids
            message = f"'{where}' holds a token id this model's tokenizer does not have: {exc}"
            raise invalid(message, param=where) from exc
    return tuple(texts)
