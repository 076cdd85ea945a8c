"""A TFDS builder over ArrayRecord (no TensorFlow needed): `tfds.data_source` then feeds Grain.

    prepare(data_dir, "ppopt", {"sft": examples, "rl": ...})
    source = tfds.data_source("personax_atlas/ppopt", data_dir=data_dir, split="sft")
    build_pipeline(source, tokenizer, config)

Configs: "conversations" (PersonaAtlas records, released or rich) and "ppopt" (PPOpt examples).
Each row is the record's JSON plus its persona id.
"""
from __future__ import annotations

import json
import os
from typing import Any, Mapping, Sequence

import tensorflow_datasets as tfds

from personax.data.arrayrecord import to_bytes


class PersonaxAtlas(tfds.core.GeneratorBasedBuilder):
    """PersonaAtlas conversations or PPOpt examples written by personax."""

    name = "personax_atlas"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(name="conversations"),
                       tfds.core.BuilderConfig(name="ppopt")]

    # No downloads and no checksums file; the default lookup of one imports `importlib_resources`,
    # which is not installed here.
    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls) -> None:
        return None

    def __init__(self, *, splits: Mapping[str, Sequence[Any]] | None = None, **kwargs: Any):
        self._splits = splits  # needed to prepare only; reading needs none
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self, description=__doc__,
            features=tfds.features.FeaturesDict({"json": tfds.features.Text(),
                                                 "persona_id": tfds.features.Text()}))

    def _split_generators(self, dl_manager: Any) -> dict[str, Any]:
        if not self._splits:
            raise ValueError("PersonaxAtlas: pass splits={name: records} to prepare the dataset")
        return {name: self._generate_examples(records) for name, records in self._splits.items()}

    def _generate_examples(self, records: Sequence[Any]):
        for i, record in enumerate(records):
            raw = to_bytes(record)
            yield f"{i:09d}", {"json": raw.decode("utf-8"),
                               "persona_id": json.loads(raw).get("persona_id", "")}


def prepare(data_dir: str | os.PathLike, config: str, splits: Mapping[str, Sequence[Any]]
            ) -> PersonaxAtlas:
    builder = PersonaxAtlas(config=config, data_dir=os.fspath(data_dir), splits=splits,
                            file_format="array_record")
    builder.download_and_prepare()
    return builder
