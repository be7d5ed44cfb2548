"""Long text (the graph JSON) packed: `MAGIC` + UTF-8 length + zstd frame (level 1), in a BLOB.

LadybugDB writes long values slowly (measured: 270 MB of graph JSON took 8 s of a 50,000-neuron load; its
checkpoint spends ~13 ms per MB of BLOB, part of it min/max statistics over every byte). zstd level 1 shrinks the
JSON 4x (LZ4, used before, 2.6x: 105 -> 68 MB per 50,000 synthetic graphs) for ~1 s of compression, which
`ingest.graph_rows` does on a second thread while the tries are walked, and reads back in ~16 us per graph. Rows
carry the text packed (packing from the Python strings is also cheaper than making an Arrow string column of them);
the LadybugDB store unpacks every BLOB it reads (`unpack`, which also reads the LZ4 frames of stores written
before, magic `n2gz`), and engines that store text (Neo4j, neo4j-admin files) get it unpacked (`unpack_column`),
so queries, search and tests see the text exactly as given.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa

MAGIC = b"n2gZ"  # zstd
_CODECS = {MAGIC: pa.Codec("zstd", compression_level=1), b"n2gz": pa.Codec("lz4")}  # magic -> codec, to read
_HEADER = len(MAGIC) + 4  # the magic, then the text's UTF-8 length (little-endian uint32)


def pack(text: str) -> bytes:
    return bytes(_pack_into(bytearray(), text))


def _pack_into(out: bytearray, text: str) -> bytearray:
    raw = text.encode("utf-8")
    out += MAGIC
    out += len(raw).to_bytes(4, "little")
    out += _CODECS[MAGIC].compress(raw)
    return out


def unpack(value: bytes) -> str | bytes:
    """The text `pack` was given; a BLOB not packed here comes back as it is."""
    codec = _CODECS.get(value[:len(MAGIC)])
    if codec is None:
        return value
    size = int.from_bytes(value[len(MAGIC): _HEADER], "little")
    return codec.decompress(value[_HEADER:], decompressed_size=size, asbytes=True).decode("utf-8")


def pack_column(texts: Iterable[str | None]) -> pa.Array:
    """Texts packed into one growing buffer, not a bytes object each copied once more into Arrow (0.5 s instead
    of 0.6-0.8 s for 50,000 graphs, and half the fresh memory)."""
    data, offsets, valid = bytearray(), [0], []
    for text in texts:
        if text is not None:
            _pack_into(data, text)
        offsets.append(len(data))
        valid.append(text is not None)
    mask = None if all(valid) else pa.array(valid).buffers()[1]
    return pa.Array.from_buffers(pa.large_binary(), len(valid), [mask, pa.py_buffer(np.array(offsets, np.int64)),
                                                                 pa.py_buffer(data)])


def unpack_column(packed: pa.Array | pa.ChunkedArray) -> pa.Array:
    return pa.array([None if value is None else unpack(value) for value in packed.to_pylist()], type=pa.large_string())
