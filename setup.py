"""personax: JAX/TPU-native personalized prompt optimization (PersonaGym + PPOpt)."""
from setuptools import find_packages, setup

CORE = [
    "jax>=0.10.2,<0.11",
    "jaxlib>=0.10.2,<0.11",
    "flax>=0.12.8,<0.13",
    "optax>=0.2.8,<0.3",
    "orbax-checkpoint>=0.12.8,<0.13",
    "grain>=0.2.18,<0.3",
    "sentencepiece>=0.2.0,<0.3",
    "tensorflow-datasets>=4.9.10,<5",
    "array-record>=0.8.6,<0.9",
    "ml-collections>=1.1.0,<2",
    "numpy>=1.26",
    "safetensors>=0.4",
    "gguf>=0.10",
    "regex>=2023.0",
    "tqdm>=4.66",
    "tensorboardX>=2.6",  # TensorBoard event files without TensorFlow
    "jinja2>=3.1",
    "matplotlib>=3.8",  # evaluation report plots  # chat templates shipped with models are jinja
    "openai>=1.50",  # hosted LLM roles (imported only when a hosted backend is configured)
]

EXTRAS = {
    # Reference implementations for parity tests and benchmarks (CPU torch build).
    "dev": ["pytest>=8", "pytest-timeout>=2.3", "pytest-xdist>=3.5", "torch==2.13.0", "transformers>=4.46,<6", "tokenizers>=0.20"],
    "bench": ["torch==2.13.0", "transformers>=4.46,<6", "peft>=0.21", "trl>=1.16"],
    "tpu": ["jax[tpu]>=0.10.2,<0.11"],
    "gpu": ["jax[cuda12]>=0.10.2,<0.11"],
}

setup(
    name="personax",
    version="0.1.0",
    description="JAX/TPU-native personalized prompt optimization: PersonaGym data generation and PPOpt training.",
    packages=find_packages(include=["personax*", "data_gen*", "launch*"]),
    package_data={"data_gen": ["*.json"], "personax.llm.sim": ["*.json"]},
    python_requires=">=3.10",
    install_requires=CORE,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["personax=personax.cli:main"]},
)
