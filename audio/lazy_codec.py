"""audio.codec, imported at its first use rather than with the URLconf.

The codec imports PyAV, whose FFmpeg libraries add about 23 MB to each process that loads them
(measured: `import av` alone), so a web worker that never serves audio never carries them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any


class _OnFirstUse:
    def __getattr__(self, name: str) -> Any:
        from audio import codec  # the import system's lock makes a first use from two threads safe

        return getattr(codec, name)


if TYPE_CHECKING:
    from audio import codec as codec
else:
    codec = _OnFirstUse()
