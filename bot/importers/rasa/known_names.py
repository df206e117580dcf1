"""Names Rasa gives a meaning of its own, so that the importer does not report them as
missing from the project (rasa/shared/core/constants.py)."""

from __future__ import annotations

# Rasa's default actions: every bot has them without listing them under 'actions:'.
RASA_DEFAULT_ACTIONS = frozenset(
    {
        "action_listen",
        "action_restart",
        "action_session_start",
        "action_default_fallback",
        "action_deactivate_loop",
        "action_revert_fallback_events",
        "action_default_ask_affirmation",
        "action_default_ask_rephrase",
        "action_two_stage_fallback",
        "action_unlikely_intent",
        "action_back",
        "action_send_text",
        "action_extract_slots",
        "action_validate_slot_mappings",
    }
)
# Rasa's default intents: triggered by the bot itself or by a '/intent' message, never
# learnt from examples (out_of_scope may have examples, and needs none).
RASA_DEFAULT_INTENTS = frozenset(
    {"restart", "back", "out_of_scope", "session_start", "nlu_fallback"}
)
