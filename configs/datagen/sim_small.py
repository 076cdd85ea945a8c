"""PersonaGym on the offline sim world: 50 personas x 5 conversations, no key, no network.

    personax datagen --config configs/datagen/sim_small.py --workdir /tmp/sim_small

Runs on CPU in well under a minute on 2 cores. Expected: 250 conversations from 50 personas;
2-5 turns per conversation (mean about 3); about 25% of user messages noised with layer shares
near 0.5 / 0.3 / 0.2; 15-20 sampled features per persona; sim tokens are words. Sim results
describe the sim world only. `--config.num_personas=8` makes a quick smoke run.
"""
from data_gen.config import base_config


def get_config():
    return base_config()
