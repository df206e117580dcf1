"""Rasa's ``POST /model/parse``: what the models make of a text, without a conversation."""

from __future__ import annotations

from typing import Any, NotRequired

from aiohttp import web
from typing_extensions import TypedDict

from bot.server.appkeys import CONFIG, RUNTIME
from bot.server.http.rest import check_channel_token, check_chat_limits
from bot.server.http.validation import json_object, text_field


class ParseRequest(TypedDict):
    text: str


class IntentGuess(TypedDict):
    name: str
    confidence: float


class Sentiment(TypedDict):
    label: str
    score: float


class ParseResult(TypedDict):
    """Rasa's parse shape, with our sentiment alongside when a sentiment model is loaded."""

    text: str
    intent: IntentGuess
    entities: list[dict[str, Any]]
    intent_ranking: list[IntentGuess]
    sentiment: NotRequired[Sentiment]


async def model_parse(request: web.Request) -> web.Response:
    check_channel_token(request)
    body = await json_object(request)
    text = text_field(body, "text", max_chars=request.app[CONFIG].max_message_chars)
    assert text is not None
    # The models cost the same here as on the webhook: the same per-address limit applies.
    await check_chat_limits(request)
    parse = await request.app[RUNTIME].get().nlu.parse(text)
    return web.json_response(parse.to_rasa())
