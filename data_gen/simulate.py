"""One conversation (SPEC §1.3-1.4): style transfer, then assistant <-> user simulator turns,
every user message through the distractor."""
from __future__ import annotations

import dataclasses
import datetime

from data_gen.distractor import DistractorConfig, noise_message
from data_gen.personas import Persona
from data_gen.roles import Roles, call_key
from data_gen.seeds import SeedQuery
from personax.data.records import QueryRecord, RichMessage, RichRecord
from personax.llm.base import Message


@dataclasses.dataclass(frozen=True)
class ConversationPlan:
    conv_id: str
    persona: Persona
    seed: SeedQuery
    mode: str  # "full" | "partial" style transfer
    target_turns: int
    target_words: int
    assistant_model: str
    assistant_provider: str


@dataclasses.dataclass(frozen=True)
class SimulationConfig:
    max_turns: int = 5
    domains: tuple[str, ...] = ()
    scenarios: tuple[str, ...] = ()
    distractor: DistractorConfig = DistractorConfig()
    seed: int = 0


async def _user_message(text: str, turn: int, persona: dict[str, str], key: str, roles: Roles,
                        cfg: SimulationConfig) -> RichMessage:
    rec = await noise_message(text, persona, roles.distractor, cfg.distractor, cfg.seed, key)
    return RichMessage("user", rec.noisy_text, turn, clean_version=text, was_noised=rec.layer_index > 0, noise=rec)


async def simulate(plan: ConversationPlan, roles: Roles, cfg: SimulationConfig, attempt: int = 0) -> RichRecord:
    cid, seed = plan.conv_id, plan.seed

    def key(step: str) -> str:
        return call_key(cid, attempt, step)

    adapted = await roles.style.adapt(plan.persona.features, seed, plan.mode, plan.target_words,
                                      cfg.domains, cfg.scenarios, key("style"))
    persona = {**plan.persona.features, "domain": adapted.domain, "scenario": adapted.scenario}
    messages = [await _user_message(adapted.text, 0, persona, key("u0"), roles, cfg)]
    ended = False
    while True:
        turn = len(messages) // 2
        shown = [Message(m.role, m.content) for m in messages]
        answer = await roles.assistant.reply(plan.assistant_model, shown, key(f"a{turn}"))
        messages.append(RichMessage("assistant", answer, turn, model=plan.assistant_model,
                                    provider=plan.assistant_provider))
        if turn + 1 >= cfg.max_turns:
            ended = turn + 1 >= plan.target_turns  # cut by the hard cap before the user was done
            break
        reaction = await roles.user.react(persona, seed, [*shown, Message("assistant", answer)], turn + 1,
                                          plan.target_turns, cfg.max_turns, key(f"r{turn + 1}"))
        if reaction.satisfied or not (reaction.feedback or "").strip():
            ended = True
            break
        messages.append(await _user_message(reaction.feedback.strip(), turn + 1, persona, key(f"u{turn + 1}"),
                                            roles, cfg))
    return RichRecord(
        sample_id=cid, persona_id=plan.persona.id, persona=persona, original_query=seed.text,
        initial_query=adapted.text, messages=tuple(messages), conversation_ended=ended,
        distractor_type="semantic" if cfg.distractor.rate > 0 else None,
        assistant_model=plan.assistant_model, assistant_provider=plan.assistant_provider,
        query=QueryRecord(seed.id, seed.source, plan.mode, plan.target_turns,
                          plan.persona.features.get("query_length_pref", "")),
        created_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
