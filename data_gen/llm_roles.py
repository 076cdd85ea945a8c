"""The PersonaGym roles over a ChatClient: each renders a prompt, asks for JSON where the role
returns structure, and validates the answer (a bad answer raises, so the conversation retries)."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Sequence

from data_gen.roles import AdaptedQuery, UserReaction, attempt_of
from data_gen.seeds import SeedQuery
from personax.llm.base import ChatRequest, Message
from personax.llm.json_output import chat_json

if TYPE_CHECKING:  # the hosted client imports the openai SDK; sim-only runs never need it
    from personax.llm.hosted import HostedChatClient

STRATEGY_HINTS = {
    "colloquial_speech": "casual spoken wording", "incomplete_sentence": "a sentence left unfinished",
    "typo_misspelling": "a few typos", "word_segmentation": "words wrongly joined or split",
    "punctuation_format": "sloppy punctuation or capitalisation", "synonym_rewrite": "different words, same meaning",
    "emotional_attitude": "the user's feelings show", "negative_expression": "said through what they do not want",
    "real_life_fragments": "a fragment of their day slips in", "missing_slots": "a needed detail is left out",
    "vague_slot_values": "a detail is vague", "context_dependency": "refers to context the assistant lacks",
    "unclear_priority": "several wishes with no clear priority", "multi_intent": "a second request is added",
    "intent_ambiguity": "what they want done is unclear", "self_contradiction": "two wishes contradict",
    "mind_changing": "they change their mind mid-message",
}
LAYER_HINTS = {"surface_noise": "keep the intent and every detail", "incomplete_info":
               "keep the intent; details may go missing or vague", "semantic_ambiguity": "the intent itself may blur"}


def _traits(persona: dict[str, str]) -> str:
    return "\n".join(f"- {k}: {v}" for k, v in persona.items())


class _Role:
    def __init__(self, client: HostedChatClient, module: str):
        self.client, self.module = client, module

    async def _json(self, system: str, user: str, schema: dict[str, Any], key: str) -> dict[str, Any]:
        request = self.client.request([Message("system", system), Message("user", user)], module=self.module,
                                      sample_index=attempt_of(key))
        obj, _ = await chat_json(self.client, request, schema)
        return obj


class LLMStyleTransfer(_Role):
    async def adapt(self, persona: dict[str, str], seed: SeedQuery, mode: str, target_words: int,
                    domains: Sequence[str], scenarios: Sequence[str], key: str) -> AdaptedQuery:
        scope = ("every trait that would show in how this user writes" if mode == "full" else
                 "only the 2-4 traits most relevant to this query")
        system = (
            "You rewrite a seed query as the given user would actually type it. Use "
            f"{scope}. Tone, formality, length and the vocabulary of their role and proficiency act "
            "directly; age, education, seniority and industry act only indirectly (never announce "
            "them); background traits do not show. Keep the task itself intact. Aim for about "
            f"{target_words} words. Pick the domain from {list(domains)} and the scenario from "
            f"{list(scenarios)}. Reply with JSON only: "
            '{"adapted_query": str, "inferred_domain": str, "inferred_scenario": str}')
        obj = await self._json(system, f"User traits:\n{_traits(persona)}\n\nSeed query:\n{seed.text}",
                               {"adapted_query": str, "inferred_domain": str, "inferred_scenario": str}, key)
        for field, allowed in (("inferred_domain", domains), ("inferred_scenario", scenarios)):
            if obj[field] not in allowed:
                raise ValueError(f"style transfer for {key}: {field}={obj[field]!r} is not in the bank {list(allowed)}")
        if not obj["adapted_query"].strip():
            raise ValueError(f"style transfer for {key}: empty adapted_query")
        return AdaptedQuery(obj["adapted_query"].strip(), obj["inferred_domain"], obj["inferred_scenario"])


class LLMUserSimulator(_Role):
    async def react(self, persona: dict[str, str], seed: SeedQuery, conversation: Sequence[Message],
                    turns_done: int, target_turns: int, max_turns: int, key: str) -> UserReaction:
        if turns_done < target_turns:
            budget = (f"This is reply {turns_done} of about {target_turns}: explore, ask a follow-up "
                      "or push back where the answer misses what you want.")
        else:
            budget = "You have reached your turn budget: be satisfied unless the answer is unusable."
        system = (
            "You play this user talking to an AI assistant. Write as they would (their tone, "
            f"length and vocabulary); never mention that you are simulated.\nTraits:\n{_traits(persona)}\n"
            f"{budget} At most {max_turns} replies in all. Reply with JSON only: "
            '{"satisfied": bool, "feedback": str or null} (feedback is your next message, null when satisfied).')
        transcript = "\n\n".join(f"{m.role.upper()}: {m.content}" for m in conversation)
        obj = await self._json(system, f"Your original goal: {seed.text}\n\nConversation so far:\n{transcript}",
                               {"satisfied": bool, "feedback": (str, type(None))}, key)
        return UserReaction(obj["satisfied"], obj["feedback"])


class LLMAssistant(_Role):
    SYSTEM = ("You are a helpful assistant. Answer what is asked. Do not assume anything about the "
              "user's background or preferences beyond what they say.")

    async def reply(self, model: str, conversation: Sequence[Message], key: str) -> str:
        request = ChatRequest((Message("system", self.SYSTEM), *conversation), model=model, module=self.module,
                              sample_index=attempt_of(key), **self.client.request_defaults)
        text = (await self.client.chat(request)).text.strip()
        if not text:
            raise ValueError(f"assistant {model} gave an empty reply for {key}")
        return text


class LLMDistractor(_Role):
    async def extract(self, text: str, key: str) -> dict[str, Any]:
        system = ("Extract the intent and the slots (the concrete details) of a user message. Reply "
                  'with JSON only: {"intent": str, "slots": object or list, "compressed_text": str}')
        return await self._json(system, text, {"intent": str, "slots": (dict, list), "compressed_text": str}, key)

    async def rewrite(self, text: str, semantics: dict[str, Any], layer: str, strategies: Sequence[str],
                      persona: dict[str, str], key: str) -> str:
        system = (
            "Rewrite a user's message into ONE coherent, realistic noisy message from the same user. "
            f"Noise layer: {layer} ({LAYER_HINTS.get(layer, '')}). Apply: "
            + "; ".join(f"{s} ({STRATEGY_HINTS.get(s, s)})" for s in strategies)
            + ". Fit the user: no emoji or slang for a formal or older user, a natural opener, about "
            'the same length. Reply with JSON only: {"noisy_text": str}')
        user = (f"User traits:\n{_traits(persona)}\n\nMessage:\n{text}\n\nExtracted semantics:\n"
                f"{json.dumps(semantics, ensure_ascii=False)}")
        obj = await self._json(system, user, {"noisy_text": str}, key)
        if not obj["noisy_text"].strip():
            raise ValueError(f"distractor for {key}: empty noisy_text")
        return obj["noisy_text"].strip()


class LLMOthersResolver(_Role):
    async def resolve(self, dim: str, description: str, taken: list[str], persona: dict[str, str], key: str) -> str:
        system = (f"Invent one new value for the persona dimension {dim!r} ({description}) that fits "
                  f"the rest of the persona and differs from all of {taken}. It must be snake_case, "
                  '1-3 words. Reply with JSON only: {"value": str}')
        obj = await self._json(system, f"Persona so far:\n{_traits(persona)}", {"value": str}, key)
        return obj["value"]
