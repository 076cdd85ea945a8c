"""PersonaAtlas records, importers, the PPOpt example builder and the Grain input pipeline.

records/rich (formats) -> importers (files) -> examples/state (PPOpt states) -> teacher (SFT
labels) -> sources/tokenize/pipeline (Grain) ; arrayrecord/tfds_builder (storage) ; cli (inspect,
build). See docs/data_formats.md.
"""
